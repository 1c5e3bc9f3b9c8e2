"""Analytics entrypoints: payment and campaign events in; revenue.recorded and performance out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from services.analytics import domain
from services.analytics.domain import CampaignTotals
from services.analytics.repository import CampaignTotalsRepository, PaymentsRepository
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignLaunched,
    CampaignPerformance,
    CampaignPlanned,
    CampaignSegmented,
)
from shared.events.common import FieldError
from shared.events.envelope import CloudEvent, utc_now
from shared.events.payments import PaymentRecord
from shared.events.revenue import RevenueRecorded
from shared.events.topics import (
    CAMPAIGN_CONTENT_GENERATED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PERFORMANCE,
    CAMPAIGN_PLANNED,
    CAMPAIGN_SEGMENTED,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    REVENUE_RECORDED,
)
from shared.messaging.delivery import UnprocessableEventError
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import Transaction

log = logging.getLogger(__name__)


def register(
    infra: Infrastructure, campaigns: CampaignTotalsRepository, payments: PaymentsRepository
) -> None:
    infra.publisher(
        REVENUE_RECORDED, CloudEvent[RevenueRecorded], description="A payment completed."
    )
    infra.publisher(
        CAMPAIGN_PERFORMANCE,
        CloudEvent[CampaignPerformance],
        description="A campaign's totals: periodically when they changed, or on request.",
    )

    @infra.subscriber(PAYMENT_COMPLETED, description="Record each completed payment's revenue.")
    async def record_revenue(event: CloudEvent[PaymentRecord]) -> None:
        revenue = domain.revenue_from(event.data, utc_now())

        async def work(tx: Transaction) -> None:
            if await payments.revenue_recorded(revenue.payment_id, tx.session):
                return  # the same payment re-published under a new event id
            await payments.add_revenue(revenue, tx.session)
            await payments.project(
                revenue.campaign_id, domain.payment_line(event.data, revenue), tx.session
            )
            await _update(campaigns, revenue.campaign_id, tx, lambda t: t.record_revenue(revenue))
            await tx.emit(REVENUE_RECORDED, revenue, key=revenue.campaign_id, cause=event)

        await infra.uow.consume(event.id, work)

    @infra.subscriber(PAYMENT_FAILED, description="Count each failed payment.")
    async def count_failure(event: CloudEvent[PaymentRecord]) -> None:
        campaign_id = domain.credited_campaign(event.data)

        async def work(tx: Transaction) -> None:
            if await payments.is_known(event.data.id, tx.session):
                return  # already counted, or it completed: a late failure changes nothing
            await payments.project(campaign_id, domain.payment_line(event.data, None), tx.session)
            await _update(campaigns, campaign_id, tx, CampaignTotals.record_failure)

        await infra.uow.consume(event.id, work)

    @infra.subscriber(CAMPAIGN_PLANNED, description="Keep the plan: budget, allocation, forecast.")
    async def record_plan(event: CloudEvent[CampaignPlanned]) -> None:
        await _consume_campaign_event(infra, campaigns, event, lambda t: t.record_plan(event.data))

    @infra.subscriber(CAMPAIGN_SEGMENTED, description="Keep the campaign's segments.")
    async def record_segments(event: CloudEvent[CampaignSegmented]) -> None:
        await _consume_campaign_event(
            infra, campaigns, event, lambda t: t.record_segments(event.data)
        )

    @infra.subscriber(CAMPAIGN_CONTENT_GENERATED, description="Count what the copy cost.")
    async def record_content(event: CloudEvent[CampaignContentGenerated]) -> None:
        await _consume_campaign_event(
            infra, campaigns, event, lambda t: t.record_content(event.data)
        )

    @infra.subscriber(CAMPAIGN_LAUNCHED, description="Keep the launch's reach per channel.")
    async def record_launch(event: CloudEvent[CampaignLaunched]) -> None:
        await _consume_campaign_event(
            infra, campaigns, event, lambda t: t.record_launch(event.data)
        )


type Change = Callable[[CampaignTotals], None]


async def _consume_campaign_event(
    infra: Infrastructure,
    campaigns: CampaignTotalsRepository,
    event: CloudEvent[CampaignPlanned]
    | CloudEvent[CampaignSegmented]
    | CloudEvent[CampaignContentGenerated]
    | CloudEvent[CampaignLaunched],
    change: Change,
) -> None:
    async def work(tx: Transaction) -> None:
        await _update(campaigns, event.data.campaign_id, tx, change)

    await infra.uow.consume(event.id, work)


async def _update(
    campaigns: CampaignTotalsRepository, campaign_id: str, tx: Transaction, change: Change
) -> None:
    totals = await campaigns.get_or_start(campaign_id, tx.session)
    try:
        change(totals)
    except domain.CurrencyMismatchError as error:
        raise UnprocessableEventError(
            str(error), [FieldError(field=error.field, message=str(error))]
        ) from error
    await campaigns.save(totals, tx.session)


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
