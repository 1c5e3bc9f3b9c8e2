"""campaign.performance: emitted on demand, and on a schedule for the campaigns whose totals
changed since they were last reported."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from services.analytics import figures
from services.analytics.repository import AnalyticsTransaction, CampaignTotalsRepository
from shared.events.envelope import CloudEvent, utc_now
from shared.events.topics import CAMPAIGN_PERFORMANCE
from shared.storage.unit_of_work import UnitOfWork, retry_on_write_conflict

log = logging.getLogger(__name__)


class PerformanceReporter:
    """Emits campaign.performance through the outbox: on demand, and on a schedule for the
    campaigns whose totals changed since they were last reported."""

    def __init__(
        self,
        uow: UnitOfWork[AnalyticsTransaction],
        campaigns: CampaignTotalsRepository,
        interval: float,
    ) -> None:
        self._uow = uow
        self._campaigns = campaigns
        self._interval = interval

    @retry_on_write_conflict
    async def report(self, campaign_id: str) -> CloudEvent[Any] | None:
        """The campaign.performance emitted now; None if analytics has never heard of it."""
        async with self._uow as tx:
            totals = await tx.campaigns.get(campaign_id)
            if totals is None:
                return None
            now = utc_now()
            performance = figures.performance(totals, now)
            emitted = await tx.emit(CAMPAIGN_PERFORMANCE, performance, key=campaign_id)
            await tx.campaigns.mark_reported(totals, now)
        return emitted

    async def report_changed(self) -> int:
        changed = await self._campaigns.changed_since_reported()
        for campaign_id in changed:
            await self.report(campaign_id)
        return len(changed)

    async def report_periodically(self) -> None:
        """The background job; a failed round is logged and retried on the next tick."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.report_changed()
            except Exception:
                log.exception("performance round failed; retrying in %.0fs", self._interval)
