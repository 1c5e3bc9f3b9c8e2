"""Segmenter entrypoints: customer.upserted and campaign.planned in, campaign.segmented out."""

from __future__ import annotations

from datetime import UTC, datetime

from services.segmenter import domain
from services.segmenter.repository import Customers, Segmentations
from shared.events.campaigns import CampaignPlanned, CampaignSegmented
from shared.events.customers import CustomerUpserted
from shared.events.envelope import CloudEvent
from shared.events.topics import CAMPAIGN_PLANNED, CAMPAIGN_SEGMENTED, CUSTOMER_UPSERTED
from shared.runtime import Infrastructure
from shared.storage.unit_of_work import Transaction


def register(
    infra: Infrastructure,
    customers: Customers,
    segmentations: Segmentations,
    policy: domain.SegmentationPolicy,
) -> None:
    infra.publisher(
        CAMPAIGN_SEGMENTED,
        CloudEvent[CampaignSegmented],
        description="The customer base, segmented for a planned campaign.",
    )

    @infra.subscriber(CUSTOMER_UPSERTED, description="Keep the customer base up to date.")
    async def upsert_customer(event: CloudEvent[CustomerUpserted]) -> None:
        async def work(tx: Transaction) -> None:
            stored = await customers.updated_as_of(event.data.customer_id, tx.session)
            if domain.supersedes(event.time, stored):
                await customers.save(event.data, event.time, tx.session)

        await infra.uow.consume(event.id, work)

    @infra.subscriber(CAMPAIGN_PLANNED, description="Segment the customer base for a campaign.")
    async def segment_campaign(event: CloudEvent[CampaignPlanned]) -> None:
        campaign_id = event.data.campaign_id
        now = datetime.now(UTC)
        # Read outside the transaction: a large base would outlive a transaction's time limit.
        segmentation = domain.segment_customers(await customers.profiles(), now, policy)

        async def work(tx: Transaction) -> None:
            if await segmentations.exists(campaign_id, tx.session):
                return  # segmented once; a second campaign.planned is a no-op
            await segmentations.add(campaign_id, segmentation, now, tx.session)
            await tx.emit(
                CAMPAIGN_SEGMENTED, segmentation.event(campaign_id), key=campaign_id, cause=event
            )

        await infra.uow.consume(event.id, work)
