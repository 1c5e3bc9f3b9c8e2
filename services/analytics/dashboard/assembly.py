"""Builds the dashboard from what the analytics composition root already holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pymongo.asynchronous.database import AsyncDatabase
from starlette.routing import BaseRoute

from services.analytics.dashboard.access import DashboardAccess
from services.analytics.dashboard.campaign_index import CampaignIndex
from services.analytics.dashboard.live import LiveReports
from services.analytics.dashboard.routes import Dashboard
from services.analytics.dashboard.sessions import SessionCookies
from services.analytics.dashboard.settings import DashboardSettings
from services.analytics.report import CampaignReports
from shared.api_keys.keyring import ApiKeys
from shared.events.envelope import utc_now
from shared.runtime import Hook
from shared.storage.mongo import Document


@dataclass(frozen=True)
class DashboardParts:
    routes: list[BaseRoute]
    background: list[Hook]


def build_dashboard(
    settings: DashboardSettings,
    db: AsyncDatabase[Document],
    reports: CampaignReports,
    keys: ApiKeys,
) -> DashboardParts:
    index = CampaignIndex(db)
    live = LiveReports(reports, index, settings.dashboard_poll_seconds)
    cookies = SessionCookies(
        settings.dashboard_session_secret.get_secret_value(),
        timedelta(hours=settings.dashboard_session_hours),
    )
    access = DashboardAccess(keys, cookies, utc_now, secure_cookies=settings.environment != "local")
    dashboard = Dashboard(reports, index, live, access)
    return DashboardParts(dashboard.routes(), [live.close_streams_on_shutdown])
