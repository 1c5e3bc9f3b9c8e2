"""campaign.performance through the outbox: on demand, and periodically for the campaigns
whose totals changed since they were last reported."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from services.analytics import domain
from services.analytics.repository import CampaignTotalsRepository
from shared.events.envelope import CloudEvent, utc_now
from shared.events.topics import CAMPAIGN_PERFORMANCE
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import Transaction

log = logging.getLogger(__name__)


class PerformanceReporter:
    """Emits campaign.performance through the outbox: on demand, and on a schedule for the
    campaigns whose totals changed since they were last reported."""

    def __init__(
        self, infra: Infrastructure, campaigns: CampaignTotalsRepository, interval: float
    ) -> None:
        self._infra = infra
        self._campaigns = campaigns
        self._interval = interval

    async def report(self, campaign_id: str) -> CloudEvent[Any] | None:
        """Emit the campaign's performance now; None if analytics has never heard of it."""

        async def work(tx: Transaction) -> None:
            totals = await self._campaigns.get(campaign_id, tx.session)
            if totals is None:
                return
            now = utc_now()
            await tx.emit(CAMPAIGN_PERFORMANCE, domain.performance(totals, now), key=campaign_id)
            await self._campaigns.mark_reported(totals, now, tx.session)

        emitted = (await self._infra.uow.run(work)).emitted
        return emitted[0] if emitted else None

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
