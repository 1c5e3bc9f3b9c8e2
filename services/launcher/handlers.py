"""Launcher entrypoints: planned, segmented and content_generated in, campaign.launched out.

The three inputs arrive in any order, possibly at once (three consumers in one process).
Recording an input and launching happen in one transaction, and the launch is an insert
keyed by campaign id: a concurrent second completion fails on that key (or on the
transaction's write conflict), is retried by the delivery policy, and then finds the
campaign already launched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from services.launcher import domain
from services.launcher.repository import LauncherTransaction
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignLaunched,
    CampaignPlanned,
    CampaignSegmented,
)
from shared.events.common import Channel
from shared.events.envelope import CloudEvent
from shared.events.topics import (
    CAMPAIGN_CONTENT_GENERATED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_SEGMENTED,
)
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import UnitOfWork

type Input = CampaignPlanned | CampaignSegmented | CampaignContentGenerated
type Record = Callable[[LauncherTransaction], Awaitable[domain.LaunchBrief]]


def register(
    infra: Infrastructure,
    uow: UnitOfWork[LauncherTransaction],
    cpm: Mapping[Channel, Decimal],
) -> None:
    infra.publisher(
        CAMPAIGN_LAUNCHED, CloudEvent[CampaignLaunched], description="A campaign went live."
    )

    async def collect[I: Input](event: CloudEvent[I], record: Record) -> None:
        campaign_id = event.data.campaign_id
        async with uow.consuming(event) as tx:
            brief = await record(tx)
            launched = domain.launch(brief, datetime.now(UTC), cpm)
            if launched is None or await tx.launches.exists(campaign_id):
                return
            await tx.launches.add(campaign_id, launched)
            await tx.emit(CAMPAIGN_LAUNCHED, launched, key=campaign_id, cause=event)

    @infra.subscriber(CAMPAIGN_PLANNED, description="The budget split to buy reach with.")
    async def on_planned(event: CloudEvent[CampaignPlanned]) -> None:
        await collect(event, lambda tx: tx.briefs.record_planned(event.data))

    @infra.subscriber(CAMPAIGN_SEGMENTED, description="Who the campaign can email.")
    async def on_segmented(event: CloudEvent[CampaignSegmented]) -> None:
        await collect(event, lambda tx: tx.briefs.record_segmented(event.data))

    @infra.subscriber(CAMPAIGN_CONTENT_GENERATED, description="The content is ready.")
    async def on_content(event: CloudEvent[CampaignContentGenerated]) -> None:
        await collect(event, lambda tx: tx.briefs.record_content(event.data))
