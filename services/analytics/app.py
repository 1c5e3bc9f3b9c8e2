"""Composition root of analytics."""

from services.analytics.api import build_api
from services.analytics.handlers import register
from services.analytics.performance import PerformanceReporter
from services.analytics.repository import (
    AnalyticsTransaction,
    CampaignTotalsRepository,
    PaymentsRepository,
)
from services.analytics.settings import AnalyticsSettings
from shared.api_keys.keyring import ApiKeys
from shared.runtime import Infrastructure, Service

NAME = "analytics"


def build(settings: AnalyticsSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    uow = infra.uow.bound(AnalyticsTransaction)
    register(infra, uow)
    campaigns, payments = CampaignTotalsRepository(infra.db), PaymentsRepository(infra.db)
    reporter = PerformanceReporter(
        uow, campaigns, interval=settings.analytics_performance_interval_seconds
    )
    infra.finish()
    return Service(
        infra=infra,
        http_app=build_api(
            infra,
            campaigns,
            payments,
            reporter,
            ApiKeys.with_service_key(
                "ANALYTICS_API_KEY", settings.analytics_api_key, settings.api_keys_file
            ),
        ),
        http_port=settings.analytics_api_port,
        on_startup=[payments.ensure_indexes],
        background=[reporter.report_periodically],
    )
