"""Analytics entrypoints for the journey: what the launcher sent, what came back, who was
held out, what the ads delivered, and when each payment started.

A touch announced twice (a new event id for the same message or click) is kept once: sends
are known by their message id, clicks by their click id.
"""

from __future__ import annotations

from services.analytics.attribution.rule import AttributionPolicy
from services.analytics.journeys import Journey, Touch
from services.analytics.late_clicks import release_waiting_for
from services.analytics.recording import Clock
from services.analytics.repository import AnalyticsTransaction
from shared.events.engagement import AdsReported, HeldOut, LinkClicked, MessageBounced, MessageSent
from shared.events.envelope import CloudEvent
from shared.events.payments import PaymentInitiated
from shared.events.topics import (
    ADS_REPORTED,
    ENGAGEMENT_BOUNCED,
    ENGAGEMENT_CLICKED,
    ENGAGEMENT_HELD_OUT,
    ENGAGEMENT_SENT,
    PAYMENT_INITIATED,
)
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import UnitOfWork


def register_engagement(
    infra: Infrastructure,
    uow: UnitOfWork[AnalyticsTransaction],
    policy: AttributionPolicy,
    clock: Clock,
) -> None:
    @infra.subscriber(ENGAGEMENT_SENT, description="Add each email sent to its journey.")
    async def record_send(event: CloudEvent[MessageSent]) -> None:
        sent = event.data
        async with uow.consuming(event) as tx:
            journey = await tx.journeys.of_customer(sent.campaign_id, sent.customer_id)
            if journey.touch(Touch.sent(sent)):
                await tx.journeys.save(journey)

    @infra.subscriber(ENGAGEMENT_BOUNCED, description="Mark the journeys whose email bounced.")
    async def record_bounce(event: CloudEvent[MessageBounced]) -> None:
        bounced = event.data
        async with uow.consuming(event) as tx:
            journey = await tx.journeys.of_customer(bounced.campaign_id, bounced.customer_id)
            journey.bounce(hard=bounced.kind == "hard", at=bounced.at)
            await tx.journeys.save(journey)

    @infra.subscriber(
        ENGAGEMENT_CLICKED,
        description="Add each click to its journey, and credit the payments waiting for it.",
    )
    async def record_click(event: CloudEvent[LinkClicked]) -> None:
        click = Touch.clicked(event.data)
        async with uow.consuming(event) as tx:
            if await tx.clicks.add(click):
                await _add_click_to_journey(tx, click)
            await release_waiting_for(tx, click.key, policy, clock())

    @infra.subscriber(ENGAGEMENT_HELD_OUT, description="Keep who was held out, for the lift.")
    async def record_held_out(event: CloudEvent[HeldOut]) -> None:
        held = event.data
        async with uow.consuming(event) as tx:
            journey = await tx.journeys.of_customer(held.campaign_id, held.customer_id)
            journey.hold_out(held.segment_id, held.at)
            await tx.journeys.save(journey)

    @infra.subscriber(ADS_REPORTED, description="Keep each ad set's latest delivery and spend.")
    async def record_ads(event: CloudEvent[AdsReported]) -> None:
        async with uow.consuming(event) as tx:
            await tx.ad_sets.record(event.data)

    @infra.subscriber(PAYMENT_INITIATED, description="Note when each payment started.")
    async def record_start(event: CloudEvent[PaymentInitiated]) -> None:
        started = event.data
        async with uow.consuming(event) as tx:
            await tx.starts.record(started.payment_id, started.campaign_id, started.occurred_at)


async def _add_click_to_journey(tx: AnalyticsTransaction, click: Touch) -> None:
    if click.customer_id is not None:
        journey = await tx.journeys.of_customer(click.campaign_id, click.customer_id)
    else:
        journey = Journey.of_ad_click(click)  # until a payment names it
    journey.touch(click)
    await tx.journeys.save(journey)
