"""Live updates of an open campaign page, as server-sent events.

Each stream polls the campaign's change marker every ``DASHBOARD_POLL_SECONDS`` and, when it
moved, reads the report again and sends the page's sections if they differ from what it sent
last. Polling the database, rather than listening for this replica's own writes, keeps every
page current whichever replica consumed the payment. Payments, refunds, the plan and every
optimisation record move the marker; engagement does not, so the report is also read every
``REFRESH_SECONDS`` regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo.errors import PyMongoError

from services.analytics.dashboard.campaign_index import CampaignIndex
from services.analytics.dashboard.page_model import Section
from services.analytics.dashboard.pages import sections_html
from services.analytics.dashboard.panels import campaign_sections
from services.analytics.report import CampaignReports

log = logging.getLogger(__name__)

REFRESH_SECONDS = 15
RECONNECT_MILLISECONDS = 2000  # how soon a browser reconnects after a stream ends


@dataclass(frozen=True)
class CampaignView:
    name: str | None
    sections: list[Section]


async def campaign_view(reports: CampaignReports, campaign_id: str) -> CampaignView | None:
    """The page's content, from the report API's own code path; None for an unknown campaign."""
    report = await reports.report(campaign_id)
    if report is None:
        return None
    return CampaignView(report.name, campaign_sections(report.model_dump(mode="json")))


def update_message(view: CampaignView) -> str:
    charts = {chart.name: chart.figure for s in view.sections for chart in s.charts}
    return json.dumps({"html": sections_html(view.sections), "charts": charts})


class LiveReports:
    """Every open page's stream; all of them end when the service stops."""

    def __init__(self, reports: CampaignReports, index: CampaignIndex, poll_seconds: float) -> None:
        self._reports = reports
        self._index = index
        self._poll = poll_seconds
        self._closing = asyncio.Event()

    async def close_streams_on_shutdown(self) -> None:
        """A background job: cancelled when the service stops, it ends every stream, so the
        HTTP server's graceful shutdown is not held open by pages that never disconnect."""
        try:
            await asyncio.Event().wait()
        finally:
            self._closing.set()

    async def updates(self, campaign_id: str) -> AsyncIterator[dict[str, Any]]:
        last_marker: object = object()
        last_message: str | None = None
        since_refresh = 0.0
        # Opens the stream at once and tells the browser how soon to come back if it drops.
        yield {"event": "hello", "data": "{}", "retry": RECONNECT_MILLISECONDS}
        try:
            while not self._closing.is_set():
                marker = await self._index.marker(campaign_id)
                if marker != last_marker or since_refresh >= REFRESH_SECONDS:
                    last_marker, since_refresh = marker, 0.0
                    view = await campaign_view(self._reports, campaign_id)
                    message = update_message(view) if view else None
                    if message is not None and message != last_message:
                        last_message = message
                        yield {"event": "report", "data": message}
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self._poll)
                since_refresh += self._poll
        except PyMongoError as error:
            # The browser reconnects on its own; one line, not a traceback per open page.
            log.warning(
                "dashboard stream of %s ended: database unavailable: %s", campaign_id, error
            )
