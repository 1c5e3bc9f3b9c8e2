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

from pymongo.asynchronous.client_session import AsyncClientSession

from services.launcher import domain
from services.launcher.repository import LaunchBriefs
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
from shared.storage.once_per_campaign import OncePerCampaign
from shared.storage.unit_of_work import Transaction

type Input = CampaignPlanned | CampaignSegmented | CampaignContentGenerated
type Record = Callable[[AsyncClientSession], Awaitable[domain.LaunchBrief]]


def register(
    infra: Infrastructure,
    briefs: LaunchBriefs,
    launches: OncePerCampaign[CampaignLaunched],
    cpm: Mapping[Channel, Decimal],
) -> None:
    infra.publisher(
        CAMPAIGN_LAUNCHED, CloudEvent[CampaignLaunched], description="A campaign went live."
    )

    async def collect[I: Input](event: CloudEvent[I], record: Record) -> None:
        campaign_id = event.data.campaign_id

        async def work(tx: Transaction) -> None:
            brief = await record(tx.session)
            launched = domain.launch(brief, datetime.now(UTC), cpm)
            if launched is None or await launches.exists(campaign_id, tx.session):
                return
            await launches.add(campaign_id, launched, tx.session)
            await tx.emit(CAMPAIGN_LAUNCHED, launched, key=campaign_id, cause=event)

        await infra.uow.consume(event.id, work)

    @infra.subscriber(CAMPAIGN_PLANNED, description="The budget split to buy reach with.")
    async def on_planned(event: CloudEvent[CampaignPlanned]) -> None:
        await collect(event, lambda session: briefs.record_planned(event.data, session))

    @infra.subscriber(CAMPAIGN_SEGMENTED, description="Who the campaign can email.")
    async def on_segmented(event: CloudEvent[CampaignSegmented]) -> None:
        await collect(event, lambda session: briefs.record_segmented(event.data, session))

    @infra.subscriber(CAMPAIGN_CONTENT_GENERATED, description="The content is ready.")
    async def on_content(event: CloudEvent[CampaignContentGenerated]) -> None:
        await collect(event, lambda session: briefs.record_content(event.data, session))
