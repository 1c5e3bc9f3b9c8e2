"""Segmenter entrypoints: customers and campaigns in, campaign.segmented out.

campaign.launched and revenue.recorded feed the history behind predicted conversion.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.segmenter import domain
from services.segmenter.engines.llm import STEP, SegmentNamer
from services.segmenter.repository import Customers, Outcomes, Segmentations, SegmenterTransaction
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


def register(
    infra: Infrastructure,
    uow: UnitOfWork[SegmenterTransaction],
    customers: Customers,
    segmentations: Segmentations,
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
        # Read, segment and name outside the transaction: a large base would outlive a
        # transaction's time limit, and a model call must never hold one open.
        base, history = await customers.columns(now), await outcomes.by_segment()
        computed = domain.segment_customers(base, policy, history)
        segmentation, decision = await namer.name(computed, event.data)
        await save_segmentation(event, segmentation, decision, now)

    @retry_on_write_conflict
    async def save_segmentation(
        event: CloudEvent[CampaignPlanned],
        segmentation: domain.Segmentation,
        decision: Decision[Any],
        now: datetime,
    ) -> None:
        campaign_id = event.data.campaign_id
        segmented = segmentation.event(campaign_id, decision.engine, decision.cost)
        async with uow.consuming(event) as tx:
            if await tx.segmentations.exists(campaign_id):
                return  # segmented meanwhile by a redelivery of the same event
            await tx.segmentations.add(campaign_id, segmentation, now)
            await tx.decisions.record(campaign_id, STEP, decision)
            await tx.emit(CAMPAIGN_SEGMENTED, segmented, key=campaign_id, cause=event)
            for chunk in segmentation.audience(campaign_id):
                await tx.emit(CAMPAIGN_AUDIENCE, chunk, key=campaign_id, cause=event)

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
