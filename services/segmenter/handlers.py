"""Segmenter entrypoints: customers and campaigns in, campaign.segmented out.

A campaign.planned segments the base a chunk at a time (``streaming``): the members are
stored as they are assigned, then published as campaign.audience a few chunks per
transaction, and campaign.segmented commits last, with the mark that the event is done.
A crash anywhere before that mark re-runs the whole segmentation on redelivery; chunks
are stored and published under the same numbers, which their consumers key on.

campaign.launched and revenue.recorded feed the history behind predicted conversion.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.segmenter import domain
from services.segmenter.domain import AUDIENCE_CHUNK
from services.segmenter.engines.llm import STEP, SegmentNamer
from services.segmenter.repository import (
    Audiences,
    Customers,
    Members,
    Outcomes,
    Segmentations,
    SegmenterTransaction,
)
from services.segmenter.streaming import SegmentAssigner, fit_streamed
from shared.ai.runner import Decision
from shared.events.campaigns import (
    CampaignAudience,
    CampaignLaunched,
    CampaignPlanned,
    CampaignSegmented,
)
from shared.events.customers import CustomerUpserted
from shared.events.envelope import CloudEvent
from shared.events.revenue import RevenueRecorded
from shared.events.topics import (
    CAMPAIGN_AUDIENCE,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_SEGMENTED,
    CUSTOMER_UPSERTED,
    REVENUE_RECORDED,
)
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import UnitOfWork, retry_on_write_conflict

# campaign.audience events per transaction: ten outbox rows of about 60 KB each.
AUDIENCE_CHUNKS_PER_TRANSACTION = 10


def register(
    infra: Infrastructure,
    uow: UnitOfWork[SegmenterTransaction],
    customers: Customers,
    segmentations: Segmentations,
    audiences: Audiences,
    outcomes: Outcomes,
    policy: domain.SegmentationPolicy,
    namer: SegmentNamer,
) -> None:
    infra.publisher(
        CAMPAIGN_SEGMENTED,
        CloudEvent[CampaignSegmented],
        description="The customer base, segmented for a planned campaign.",
    )
    infra.publisher(
        CAMPAIGN_AUDIENCE,
        CloudEvent[CampaignAudience],
        description="Who is in which of a campaign's segments, in chunks.",
    )

    async def keep_customers(
        tx: SegmenterTransaction, events: list[CloudEvent[CustomerUpserted]]
    ) -> None:
        await tx.customers.keep_newest((event.data, event.time) for event in events)

    infra.batch_subscriber(
        CUSTOMER_UPSERTED,
        CustomerUpserted,
        uow,
        keep_customers,
        description="Keep the customer base up to date, a batch at a time; the newest wins.",
    )

    @infra.subscriber(CAMPAIGN_PLANNED, description="Segment the customer base for a campaign.")
    async def segment_campaign(event: CloudEvent[CampaignPlanned]) -> None:
        campaign_id = event.data.campaign_id
        if await segmentations.exists(campaign_id):
            return  # segmented once; a second campaign.planned is a no-op
        now = datetime.now(UTC)
        # Read, segment and name outside any transaction: a large base would outlive a
        # transaction's time limit, and a model call must never hold one open.
        history = await outcomes.by_segment()
        assigner = await fit_streamed(lambda: customers.chunks(now), policy)
        chunks = await keep_audience(campaign_id, assigner, now)
        computed = assigner.segmentation(history)
        segmentation, decision = await namer.name(computed, event.data, assigner.customer_ids)
        batches = audiences.batches(campaign_id, chunks, AUDIENCE_CHUNKS_PER_TRANSACTION)
        async for first, members in batches:
            await publish_audience(event, first, chunks, members)
        await save_segmentation(event, segmentation, decision, chunks, now)

    async def keep_audience(campaign_id: str, assigner: SegmentAssigner, now: datetime) -> int:
        """The assignment pass: every chunk's members stored as they are assigned; how
        many audience chunks there are (an empty base has one, empty)."""
        await audiences.forget(campaign_id)
        stored = 0
        async for columns in customers.chunks(now):
            segment_ids = assigner.assign(columns)
            members = list(zip(columns.customer_ids.tolist(), segment_ids.tolist(), strict=True))
            split = [
                members[i : i + AUDIENCE_CHUNK] for i in range(0, len(members), AUDIENCE_CHUNK)
            ]
            await audiences.keep(campaign_id, stored, split)
            stored += len(split)
        if not stored:
            await audiences.keep(campaign_id, 0, [[]])
        return max(stored, 1)

    @retry_on_write_conflict
    async def publish_audience(
        event: CloudEvent[CampaignPlanned], first: int, chunks: int, members: list[Members]
    ) -> None:
        campaign_id = event.data.campaign_id
        async with uow as tx:
            for offset, chunk in enumerate(members):
                audience = domain.audience_chunk(campaign_id, first + offset, chunks, chunk)
                await tx.emit(CAMPAIGN_AUDIENCE, audience, key=campaign_id, cause=event)

    @retry_on_write_conflict
    async def save_segmentation(
        event: CloudEvent[CampaignPlanned],
        segmentation: domain.Segmentation,
        decision: Decision[Any],
        chunks: int,
        now: datetime,
    ) -> None:
        campaign_id = event.data.campaign_id
        segmented = segmentation.event(campaign_id, decision.engine, decision.cost)
        async with uow.consuming(event) as tx:
            if await tx.segmentations.exists(campaign_id):
                return  # segmented meanwhile by a redelivery of the same event
            await tx.segmentations.add(campaign_id, segmentation, chunks, now)
            await tx.decisions.record(campaign_id, STEP, decision)
            await tx.emit(CAMPAIGN_SEGMENTED, segmented, key=campaign_id, cause=event)

    @infra.subscriber(CAMPAIGN_LAUNCHED, description="Count a launched campaign's reach.")
    async def record_launch(event: CloudEvent[CampaignLaunched]) -> None:
        async with uow.consuming(event) as tx:
            await tx.outcomes.launched(event.data.campaign_id)

    @infra.subscriber(REVENUE_RECORDED, description="Count a sale against its segment.")
    async def record_conversion(event: CloudEvent[RevenueRecorded]) -> None:
        segment_id = event.data.attribution.segment_id
        if segment_id is None:
            return  # not from a tracked link: no segment to credit
        async with uow.consuming(event) as tx:
            await tx.outcomes.converted(event.data.campaign_id, segment_id)
