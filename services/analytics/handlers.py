"""Analytics entrypoints: payment and campaign events in; revenue.recorded and
revenue.reversed out.

One revenue.recorded per payment and one revenue.reversed per refund, whatever the
redeliveries: events are deduplicated on their identity by the unit of work, and a payment
or refund re-published under a new event id is recognised by its payment or refund id.
Payment events are consumed in batches, one transaction each (``payment_batches``).
A payment is credited from the customer's journey (see ``attribution.rule``); one naming a
click not seen yet waits for it (see ``late_clicks``).
"""

from __future__ import annotations

from datetime import datetime

from services.analytics import recording, refunds
from services.analytics.attribution.rule import AttributionPolicy
from services.analytics.domain import InvalidPaymentEventError
from services.analytics.payment_batches import count_failed, record_completed
from services.analytics.payment_lines import refunded_line
from services.analytics.recording import Clock, unprocessable, update_totals
from services.analytics.refunds import ReversedSoFar
from services.analytics.repository import AnalyticsTransaction
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignLaunched,
    CampaignPerformance,
    CampaignPlanned,
    CampaignSegmented,
)
from shared.events.envelope import CloudEvent
from shared.events.payments import PaymentCompleted, PaymentFailed, PaymentRefunded
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
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import UnitOfWork


def register(
    infra: Infrastructure,
    uow: UnitOfWork[AnalyticsTransaction],
    policy: AttributionPolicy,
    clock: Clock,
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

    async def record_revenue(
        tx: AnalyticsTransaction, events: list[CloudEvent[PaymentCompleted]]
    ) -> None:
        await record_completed(tx, events, policy, clock())

    async def reverse_revenue(
        tx: AnalyticsTransaction, events: list[CloudEvent[PaymentRefunded]]
    ) -> None:
        # Refunds are few, and a refund reads what an earlier one of the batch wrote: one
        # at a time, in the batch's transaction.
        for event in events:
            await _reverse_revenue(tx, event, policy, clock())

    async def count_failure(
        tx: AnalyticsTransaction, events: list[CloudEvent[PaymentFailed]]
    ) -> None:
        await count_failed(tx, events)

    infra.batch_subscriber(
        PAYMENT_COMPLETED,
        PaymentCompleted,
        uow,
        record_revenue,
        description="Record each completed payment's revenue, a batch at a time.",
    )
    infra.batch_subscriber(
        PAYMENT_REFUNDED,
        PaymentRefunded,
        uow,
        reverse_revenue,
        description="Reverse each refund's share of revenue, a batch at a time.",
    )
    infra.batch_subscriber(
        PAYMENT_FAILED,
        PaymentFailed,
        uow,
        count_failure,
        description="Count each failed payment, a batch at a time.",
    )

    @infra.subscriber(CAMPAIGN_PLANNED, description="Keep the plan: budget, allocation, forecast.")
    async def record_plan(event: CloudEvent[CampaignPlanned]) -> None:
        async with uow.consuming(event) as tx:
            await update_totals(
                tx, event.data.campaign_id, lambda t: t.record_plan(event.data, event.traceparent)
            )

    @infra.subscriber(CAMPAIGN_SEGMENTED, description="Keep the campaign's segments.")
    async def record_segments(event: CloudEvent[CampaignSegmented]) -> None:
        async with uow.consuming(event) as tx:
            await update_totals(tx, event.data.campaign_id, lambda t: t.record_segments(event.data))

    @infra.subscriber(CAMPAIGN_CONTENT_GENERATED, description="Count what the copy cost.")
    async def record_content(event: CloudEvent[CampaignContentGenerated]) -> None:
        async with uow.consuming(event) as tx:
            await update_totals(tx, event.data.campaign_id, lambda t: t.record_content(event.data))

    @infra.subscriber(CAMPAIGN_LAUNCHED, description="Keep the launch's reach per channel.")
    async def record_launch(event: CloudEvent[CampaignLaunched]) -> None:
        async with uow.consuming(event) as tx:
            await update_totals(tx, event.data.campaign_id, lambda t: t.record_launch(event.data))


async def _reverse_revenue(
    tx: AnalyticsTransaction,
    event: CloudEvent[PaymentRefunded],
    policy: AttributionPolicy,
    now: datetime,
) -> None:
    refund = event.data
    earlier = ReversedSoFar.of(await tx.payments.reversals_of(refund.payment_id))
    if refund.refund_id in earlier.refund_ids:
        return  # the same refund re-published under a new event id
    # payment.completed travels on another topic, so it may come later: the refund carries
    # the payment's amount, fee and net, and the late completion then finds the revenue
    # recorded. A refund is final, so it waits for no click.
    revenue = await tx.payments.revenue_of(refund.payment_id)
    if revenue is None:
        await tx.parked.release(refund.payment_id)
        revenue = await recording.record_revenue(tx, event, policy, now)
    await _reverse_refund(tx, event, revenue, earlier, now)


async def _reverse_refund(
    tx: AnalyticsTransaction,
    event: CloudEvent[PaymentRefunded],
    revenue: RevenueRecorded,
    earlier: ReversedSoFar,
    now: datetime,
) -> None:
    refund = event.data
    try:
        reversal = refunds.reverse_refund(
            revenue, refund.refund_id, refund.refund_amount, earlier, now
        )
    except InvalidPaymentEventError as error:
        raise unprocessable(error) from error
    await tx.payments.add_reversal(reversal)
    first = not earlier.refund_ids
    await update_totals(
        tx, revenue.campaign_id, lambda t: t.record_refund(reversal, first_for_payment=first)
    )
    line = await tx.payments.line_of(revenue.payment_id)
    if line is not None:
        refunded = earlier.gross + reversal.gross.amount
        await tx.payments.project(revenue.campaign_id, refunded_line(line, refunded))
    await tx.emit(REVENUE_REVERSED, reversal, key=revenue.campaign_id, cause=event)
