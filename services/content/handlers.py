"""Content entrypoints: campaign.planned and campaign.segmented in, content_generated out.

The two inputs arrive in either order, possibly at once (two consumers in one process).
Each is handled in two transactions with the writer's model call between them, since a
model call must never hold a transaction open:

1. record the input in the campaign's brief: an idempotent write, safe to repeat;
2. once the brief is complete, write the content (outside any transaction), then mark the
   event processed and, unless the campaign already has content, store it with the
   writer's decision and emit it.

The event is marked processed only in the second transaction, so a crash in between
redelivers it and the work is redone. The content is an insert keyed by campaign id: when
both inputs complete the brief at once, both may call the model (a rare duplicate call,
accepted), but the second insert finds the content there (or fails on the key and is
retried by the delivery policy), so one event is emitted.
"""

from __future__ import annotations

import logging

from services.content import domain
from services.content.copywriting import CopyDraft
from services.content.domain import ContentBrief
from services.content.engines.llm import STEP, LlmWriter
from services.content.repository import BriefPart, ContentTransaction
from shared.ai.runner import Decision
from shared.events.campaigns import CampaignContentGenerated, CampaignPlanned, CampaignSegmented
from shared.events.common import Contract
from shared.events.envelope import CloudEvent
from shared.events.topics import CAMPAIGN_CONTENT_GENERATED, CAMPAIGN_PLANNED, CAMPAIGN_SEGMENTED
from shared.runtime import Infrastructure
from shared.storage.once_per_campaign import OncePerCampaign
from shared.storage.unit_of_work import UnitOfWork, retry_on_write_conflict

log = logging.getLogger(__name__)


def register(
    infra: Infrastructure,
    uow: UnitOfWork[ContentTransaction],
    generated: OncePerCampaign[CampaignContentGenerated],
    writer: LlmWriter,
) -> None:
    infra.publisher(
        CAMPAIGN_CONTENT_GENERATED,
        CloudEvent[CampaignContentGenerated],
        description="A/B/C variants for every segment and channel of a campaign.",
    )

    @retry_on_write_conflict
    async def record(campaign_id: str, part: BriefPart, data: Contract) -> ContentBrief:
        async with uow as tx:
            return await tx.briefs.record(campaign_id, part, data)

    async def write(
        campaign_id: str, brief: ContentBrief
    ) -> tuple[CampaignContentGenerated, Decision[CopyDraft]] | None:
        """The content and its decision, once the brief is complete and not yet written."""
        if brief.planned is None or brief.segmented is None:
            return None
        if await generated.exists(campaign_id):
            return None  # a redelivery, or the other input's handler got there first
        content, decision = await writer.write(brief.planned, brief.segmented)
        kept, dropped = domain.vet(content, writer.sender)
        for piece in dropped:
            log.error(
                "%s: guardrails dropped %s: %s", campaign_id, piece.variant_id, piece.violations
            )
        return kept, decision

    async def collect(
        event: CloudEvent[CampaignPlanned] | CloudEvent[CampaignSegmented], part: BriefPart
    ) -> None:
        campaign_id = event.data.campaign_id
        brief = await record(campaign_id, part, event.data)
        await save(event, await write(campaign_id, brief))

    @retry_on_write_conflict
    async def save(
        event: CloudEvent[CampaignPlanned] | CloudEvent[CampaignSegmented],
        written: tuple[CampaignContentGenerated, Decision[CopyDraft]] | None,
    ) -> None:
        campaign_id = event.data.campaign_id
        async with uow.consuming(event) as tx:
            if written is None or await tx.generated.exists(campaign_id):
                return
            content, decision = written
            await tx.generated.add(campaign_id, content)
            await tx.decisions.record(campaign_id, STEP, decision)
            await tx.emit(CAMPAIGN_CONTENT_GENERATED, content, key=campaign_id, cause=event)

    @infra.subscriber(CAMPAIGN_PLANNED, description="The product and channels to write for.")
    async def on_planned(event: CloudEvent[CampaignPlanned]) -> None:
        await collect(event, "planned")

    @infra.subscriber(CAMPAIGN_SEGMENTED, description="The segments to write for.")
    async def on_segmented(event: CloudEvent[CampaignSegmented]) -> None:
        await collect(event, "segmented")
