"""Launcher entrypoints: a campaign's plan, segments, audience and content in; the customer
projection and the suppression list kept up to date.

``campaign.evaluated`` releases the campaign's next email wave (``releasing``).

The launch inputs arrive in any order, on independent consumers. Each is recorded in one
transaction with the check whether the brief is complete; the one that completes it opens
the campaign's launch (an insert keyed by campaign id, so it opens once), and the launch
itself runs in the background (``launching``), never inside a consumer. While a campaign
runs, each ``campaign.evaluated`` moves its ad sets' bids (``ads/bid_control.py``) and each
``campaign.reallocated`` their budgets (``ads/rebudgeting.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from services.launcher.ads.bid_control import BidControl
from services.launcher.ads.rebudgeting import Rebudgeting
from services.launcher.domain.brief import LaunchBrief
from services.launcher.releasing import WaveReleaser
from services.launcher.storage.suppression import SuppressionList, SuppressionReason
from services.launcher.storage.transaction import LauncherTransaction
from shared.events.campaigns import (
    CampaignAudience,
    CampaignContentGenerated,
    CampaignLaunched,
    CampaignPlanned,
    CampaignSegmented,
)
from shared.events.customers import CustomerUnsubscribed, CustomerUpserted
from shared.events.engagement import (
    AdsReported,
    HeldOut,
    LinkClicked,
    MessageBounced,
    MessageSent,
)
from shared.events.envelope import CloudEvent
from shared.events.optimisation import AdSetAdjusted, CampaignEvaluated, CampaignReallocated
from shared.events.topics import (
    ADS_ADJUSTED,
    ADS_REPORTED,
    CAMPAIGN_AUDIENCE,
    CAMPAIGN_CONTENT_GENERATED,
    CAMPAIGN_EVALUATED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_REALLOCATED,
    CAMPAIGN_SEGMENTED,
    CUSTOMER_UNSUBSCRIBED,
    CUSTOMER_UPSERTED,
    ENGAGEMENT_BOUNCED,
    ENGAGEMENT_CLICKED,
    ENGAGEMENT_HELD_OUT,
    ENGAGEMENT_SENT,
)
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import AlreadyProcessedError, UnitOfWork

type Input = CampaignPlanned | CampaignSegmented | CampaignContentGenerated | CampaignAudience
type Record = Callable[[LauncherTransaction], Awaitable[LaunchBrief]]

PUBLISHED: tuple[tuple[str, type[CloudEvent[Any]], str], ...] = (
    (CAMPAIGN_LAUNCHED, CloudEvent[CampaignLaunched], "A campaign went live: what happened."),
    (ENGAGEMENT_SENT, CloudEvent[MessageSent], "An email a recipient's server accepted."),
    (ENGAGEMENT_BOUNCED, CloudEvent[MessageBounced], "An email refused, for good or for now."),
    (ENGAGEMENT_CLICKED, CloudEvent[LinkClicked], "A tracked link followed, email or ad."),
    (ENGAGEMENT_HELD_OUT, CloudEvent[HeldOut], "A customer kept out to measure lift."),
    (ADS_REPORTED, CloudEvent[AdsReported], "An ad set's delivery so far."),
    (CUSTOMER_UNSUBSCRIBED, CloudEvent[CustomerUnsubscribed], "No more marketing email."),
    (ADS_ADJUSTED, CloudEvent[AdSetAdjusted], "An ad set's bid or budget changed, and why."),
)
UNSUBSCRIBE_REASONS = {
    "one_click": SuppressionReason.UNSUBSCRIBED,
    "link": SuppressionReason.UNSUBSCRIBED,
    "complaint": SuppressionReason.COMPLAINT,
}


def register(
    infra: Infrastructure,
    uow: UnitOfWork[LauncherTransaction],
    launch_ready: Callable[[], None],
    *,
    waves: WaveReleaser,
    bid_control: BidControl,
    rebudgeting: Rebudgeting,
) -> None:
    for topic, schema, description in PUBLISHED:
        infra.publisher(topic, schema, description=description)

    async def collect[I: Input](event: CloudEvent[I], record: Record) -> None:
        async with uow.consuming(event) as tx:
            brief = await record(tx)
            opened = brief.complete and await tx.launches.open(
                brief.campaign_id, datetime.now(UTC), cause=event.id
            )
        if opened:
            launch_ready()

    @infra.subscriber(CAMPAIGN_PLANNED, description="The budget split and the send windows.")
    async def on_planned(event: CloudEvent[CampaignPlanned]) -> None:
        await collect(event, lambda tx: tx.briefs.record_planned(event.data))

    @infra.subscriber(CAMPAIGN_SEGMENTED, description="The campaign's segments.")
    async def on_segmented(event: CloudEvent[CampaignSegmented]) -> None:
        await collect(event, lambda tx: tx.briefs.record_segmented(event.data))

    @infra.subscriber(CAMPAIGN_AUDIENCE, description="Who is in which segment, a chunk at a time.")
    async def on_audience(event: CloudEvent[CampaignAudience]) -> None:
        await collect(event, lambda tx: tx.briefs.record_audience(event.data))

    @infra.subscriber(CAMPAIGN_CONTENT_GENERATED, description="The variants to send.")
    async def on_content(event: CloudEvent[CampaignContentGenerated]) -> None:
        await collect(event, lambda tx: tx.briefs.record_content(event.data))

    async def keep_customers(
        tx: LauncherTransaction, events: list[CloudEvent[CustomerUpserted]]
    ) -> None:
        await tx.customers.keep_newest((event.data, event.time) for event in events)

    infra.batch_subscriber(
        CUSTOMER_UPSERTED,
        CustomerUpserted,
        uow,
        keep_customers,
        description="Address, name, consent and time zone, a batch at a time; the newest wins.",
    )

    @infra.subscriber(CUSTOMER_UNSUBSCRIBED, description="No more marketing email to them.")
    async def on_unsubscribed(event: CloudEvent[CustomerUnsubscribed]) -> None:
        unsubscribed = event.data
        await SuppressionList(infra.db).add(
            unsubscribed.customer_id,
            UNSUBSCRIBE_REASONS[unsubscribed.source],
            unsubscribed.at,
            unsubscribed.campaign_id,
        )

    @infra.subscriber(
        CAMPAIGN_EVALUATED, description="An optimisation cycle: verdicts, weights, figures."
    )
    async def on_evaluated(event: CloudEvent[CampaignEvaluated]) -> None:
        # The wave first: it is consumed once per event id, so a redelivery after the bids
        # failed (a write conflict with the report job, say) finds it consumed and retries
        # the bids alone, which apply once per cycle and ad set. Letting that "already
        # consumed" escape would skip the whole event and leave the bids unset for the cycle.
        with contextlib.suppress(AlreadyProcessedError):
            await waves.on_evaluated(event)
        await bid_control.on_evaluated(event.data)

    @infra.subscriber(CAMPAIGN_REALLOCATED, description="The channels' new budgets.")
    async def on_reallocated(event: CloudEvent[CampaignReallocated]) -> None:
        await rebudgeting.on_reallocated(event.data)
