"""Analytics entrypoints: payment and campaign events in; revenue.recorded, revenue.reversed
and performance out."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from services.analytics import domain, refunds
from services.analytics.domain import CampaignTotals
from services.analytics.payment_lines import payment_line, refunded_line
from services.analytics.refunds import ReversedSoFar
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
from shared.events.revenue import RevenueRecorded, RevenueReversed
from shared.events.topics import (
    CAMPAIGN_CONTENT_GENERATED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PERFORMANCE,
    CAMPAIGN_PLANNED,
    CAMPAIGN_SEGMENTED,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    REVENUE_RECORDED,
    REVENUE_REVERSED,
)
from shared.messaging.delivery import UnprocessableEventError
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import Transaction


def register(
    infra: Infrastructure, campaigns: CampaignTotalsRepository, payments: PaymentsRepository
) -> None:
    infra.publisher(
        REVENUE_RECORDED, CloudEvent[RevenueRecorded], description="A payment completed."
    )
    infra.publisher(
        REVENUE_REVERSED,
        CloudEvent[RevenueReversed],
        description="A refund took back part or all of a payment's revenue.",
    )
    infra.publisher(
        CAMPAIGN_PERFORMANCE,
        CloudEvent[CampaignPerformance],
        description="A campaign's totals: periodically when they changed, or on request.",
    )

    @infra.subscriber(PAYMENT_COMPLETED, description="Record each completed payment's revenue.")
    async def record_revenue(event: CloudEvent[PaymentRecord]) -> None:
        async def work(tx: Transaction) -> None:
            if await payments.revenue_recorded(event.data.id, tx.session):
                return  # the same payment re-published under a new event id
            await _record_revenue(campaigns, payments, event, tx)

        await infra.uow.consume(event.id, work)

    @infra.subscriber(PAYMENT_REFUNDED, description="Reverse each succeeded refund's revenue.")
    async def reverse_revenue(event: CloudEvent[PaymentRecord]) -> None:
        async def work(tx: Transaction) -> None:
            revenue = await payments.revenue_of(event.data.id, tx.session)
            if revenue is None:
                # payment.completed travels on another topic, so it may come later. The
                # refunded record is the completed one plus its refunds, with the same amount,
                # fees and attribution, so the revenue is recorded from it now; the late
                # payment.completed then finds it recorded.
                revenue = await _record_revenue(campaigns, payments, event, tx)
            await _reverse_refunds(campaigns, payments, revenue, event, tx)

        await infra.uow.consume(event.id, work)

    @infra.subscriber(PAYMENT_FAILED, description="Count each failed payment.")
    async def count_failure(event: CloudEvent[PaymentRecord]) -> None:
        campaign_id = domain.credited_campaign(event.data)

        async def work(tx: Transaction) -> None:
            if await payments.is_known(event.data.id, tx.session):
                return  # already counted, or it completed: a late failure changes nothing
            await payments.project(campaign_id, payment_line(event.data, None), tx.session)
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


async def _record_revenue(
    campaigns: CampaignTotalsRepository,
    payments: PaymentsRepository,
    event: CloudEvent[PaymentRecord],
    tx: Transaction,
) -> RevenueRecorded:
    revenue = domain.revenue_from(event.data, utc_now())
    await payments.add_revenue(revenue, tx.session)
    await payments.project(revenue.campaign_id, payment_line(event.data, revenue), tx.session)
    await _update(campaigns, revenue.campaign_id, tx, lambda t: t.record_revenue(revenue))
    await tx.emit(REVENUE_RECORDED, revenue, key=revenue.campaign_id, cause=event)
    return revenue


async def _reverse_refunds(
    campaigns: CampaignTotalsRepository,
    payments: PaymentsRepository,
    revenue: RevenueRecorded,
    event: CloudEvent[PaymentRecord],
    tx: Transaction,
) -> None:
    earlier = ReversedSoFar.of(await payments.reversals_of(revenue.payment_id, tx.session))
    try:
        due = refunds.reversals_due(revenue, event.data, earlier, utc_now())
    except refunds.RefundExceedsRevenueError as error:
        raise UnprocessableEventError(
            str(error), [FieldError(field="refunds", message=str(error))]
        ) from error
    if not due:
        return  # redelivered, or its refunds are still pending or failed
    for reversal in due:
        await payments.add_reversal(reversal, tx.session)
        await tx.emit(REVENUE_REVERSED, reversal, key=revenue.campaign_id, cause=event)
    first = not earlier.refund_ids
    await _update(
        campaigns, revenue.campaign_id, tx, lambda t: t.record_refund(due, first_for_payment=first)
    )
    line = await payments.line_of(revenue.payment_id, tx.session)
    if line is not None:
        refunded = earlier.gross + sum((r.gross.amount for r in due), Decimal(0))
        await payments.project(revenue.campaign_id, refunded_line(line, refunded), tx.session)


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
