"""Payments that name a click analytics has not seen yet.

Clicks (``engagement.clicked``) and payments (``payment.completed``) travel on different
topics, so a payment may be consumed before the click it came through. Such a payment is
parked, unrecorded, for ``ANALYTICS_CLICK_GRACE_SECONDS``: the click's arrival releases it
at once, credited to the click; when the grace runs out first, it is released and credited
by the rest of the rule (the customer's touches, else nothing). Time is read from an
injectable clock, so tests move past the grace without waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from services.analytics.attribution.rule import AttributionPolicy
from services.analytics.parked_payments import ParkedPayments
from services.analytics.recording import Clock, record_revenue
from services.analytics.repository import AnalyticsTransaction
from shared.events.envelope import CloudEvent, utc_now
from shared.events.payments import PaymentCompleted
from shared.storage.unit_of_work import UnitOfWork, retry_on_write_conflict

log = logging.getLogger(__name__)

RELEASE_INTERVAL_SECONDS = 1.0


async def release_waiting_for(
    tx: AnalyticsTransaction, click_id: str, policy: AttributionPolicy, now: datetime
) -> int:
    """Record every parked payment that named ``click_id``, now that the click is here."""
    released = 0
    for parked in await tx.parked.waiting_for(click_id):
        released += await _release(tx, parked, policy, now)
    return released


async def _release(
    tx: AnalyticsTransaction, parked: dict[str, Any], policy: AttributionPolicy, now: datetime
) -> int:
    event = CloudEvent[PaymentCompleted].model_validate(parked)
    payment_id = event.data.payment_id
    if not await tx.parked.release(payment_id) or await tx.payments.revenue_recorded(payment_id):
        return 0  # released by the other path, or a refund recorded it meanwhile
    await record_revenue(tx, event, policy, now)
    return 1


class LateClicks:
    """Releases the parked payments whose grace ran out: the background job."""

    def __init__(
        self,
        uow: UnitOfWork[AnalyticsTransaction],
        parked: ParkedPayments,
        policy: AttributionPolicy,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._parked = parked
        self._policy = policy
        self._clock = clock

    async def release_due(self) -> int:
        now = self._clock()
        released = 0
        for parked in await self._parked.due(now):
            released += await self._release_one(parked, now)
        return released

    @retry_on_write_conflict
    async def _release_one(self, parked: dict[str, Any], now: datetime) -> int:
        async with self._uow as tx:
            return await _release(tx, parked, self._policy, now)

    async def release_periodically(self) -> None:
        """A failed round is logged and tried again on the next tick."""
        while True:
            await asyncio.sleep(RELEASE_INTERVAL_SECONDS)
            try:
                await self.release_due()
            except Exception:
                log.exception("releasing payments past their click grace failed; retrying")
