"""Content entrypoints: campaign.planned and campaign.segmented in, content_generated out.

The two inputs arrive in either order, possibly at once (two consumers in one process).
Recording an input and generating happen in one transaction, and the generation is an
insert keyed by campaign id: a concurrent second completion fails on that key (or on the
transaction's write conflict), is retried by the delivery policy, and then finds the
content already generated.
"""

from __future__ import annotations

import logging

from services.content import domain
from services.content.repository import BriefPart, ContentBriefs
from shared.events.campaigns import CampaignContentGenerated, CampaignPlanned, CampaignSegmented
from shared.events.envelope import CloudEvent
from shared.events.topics import CAMPAIGN_CONTENT_GENERATED, CAMPAIGN_PLANNED, CAMPAIGN_SEGMENTED
from shared.runtime import Infrastructure
from shared.storage.once_per_campaign import OncePerCampaign
from shared.storage.unit_of_work import Transaction

log = logging.getLogger(__name__)


def register(
    infra: Infrastructure,
    briefs: ContentBriefs,
    generated: OncePerCampaign[CampaignContentGenerated],
    sender: domain.Sender,
) -> None:
    infra.publisher(
        CAMPAIGN_CONTENT_GENERATED,
        CloudEvent[CampaignContentGenerated],
        description="A/B/C variants for every segment and channel of a campaign.",
    )

    async def collect(
        event: CloudEvent[CampaignPlanned] | CloudEvent[CampaignSegmented], part: BriefPart
    ) -> None:
        campaign_id = event.data.campaign_id

        async def work(tx: Transaction) -> None:
            brief = await briefs.record(campaign_id, part, event.data, tx.session)
            written = domain.content_for(brief, sender)
            if written is None or await generated.exists(campaign_id, tx.session):
                return
            content, dropped = domain.vet(written, sender)
            for piece in dropped:
                log.error(
                    "%s: guardrails dropped %s: %s", campaign_id, piece.variant_id, piece.violations
                )
            await generated.add(campaign_id, content, tx.session)
            await tx.emit(CAMPAIGN_CONTENT_GENERATED, content, key=campaign_id, cause=event)

        await infra.uow.consume(event.id, work)

    @infra.subscriber(CAMPAIGN_PLANNED, description="The product and channels to write for.")
    async def on_planned(event: CloudEvent[CampaignPlanned]) -> None:
        await collect(event, "planned")

    @infra.subscriber(CAMPAIGN_SEGMENTED, description="The segments to write for.")
    async def on_segmented(event: CloudEvent[CampaignSegmented]) -> None:
        await collect(event, "segmented")
