"""The segmenter's data: the customer base and each campaign's segmentation."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.segmenter.domain import CustomerProfile, Segmentation
from shared.events.customers import CustomerUpserted
from shared.storage.mongo import Document

PROFILE_FIELDS = {
    "email_opt_in": 1,
    "orders_count": 1,
    "total_spent": 1,
    "last_purchase_at": 1,
    "last_engaged_at": 1,
}


class Customers:
    """One document per customer (``_id`` = customer id), stamped with its update's time."""

    def __init__(self, db: AsyncDatabase[Document], *, batch_size: int) -> None:
        self._customers = db["customers"]
        self._batch_size = batch_size

    async def updated_as_of(self, customer_id: str, session: AsyncClientSession) -> datetime | None:
        document = await self._customers.find_one(
            {"_id": customer_id}, {"as_of": 1}, session=session
        )
        return document["as_of"] if document else None

    async def save(
        self, customer: CustomerUpserted, as_of: datetime, session: AsyncClientSession
    ) -> None:
        document = customer.model_dump(mode="python") | {"as_of": as_of}
        await self._customers.replace_one(
            {"_id": customer.customer_id}, document, upsert=True, session=session
        )

    async def profiles(self) -> list[CustomerProfile]:
        """Every customer's features, read in batches of ``batch_size``."""
        cursor = self._customers.find({}, PROFILE_FIELDS, batch_size=self._batch_size)
        return [
            CustomerProfile(
                customer_id=document["_id"],
                email_opt_in=document["email_opt_in"],
                orders_count=document["orders_count"],
                total_spent=document["total_spent"]["amount"],
                currency=document["total_spent"]["currency"],
                last_purchase_at=document.get("last_purchase_at"),
                last_engaged_at=document.get("last_engaged_at"),
            )
            async for document in cursor
        ]

    async def count(self) -> int:
        return await self._customers.count_documents({})


class Segmentations:
    """One document per campaign (``_id`` = campaign id) with each segment's member ids.

    Members live inside the campaign's document, which caps a segmentation at MongoDB's
    16 MB document size (several hundred thousand customers); move members to their own
    collection before the customer base grows past that.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._segmentations = db["segmentations"]

    async def exists(self, campaign_id: str, session: AsyncClientSession) -> bool:
        found = await self._segmentations.find_one(
            {"_id": campaign_id}, {"_id": 1}, session=session
        )
        return found is not None

    async def add(
        self,
        campaign_id: str,
        segmentation: Segmentation,
        segmented_at: datetime,
        session: AsyncClientSession,
    ) -> None:
        segments = [
            members.segment.model_dump(mode="python") | {"customer_ids": members.customer_ids}
            for members in segmentation.segments
        ]
        await self._segmentations.insert_one(
            {
                "_id": campaign_id,
                "total_customers": segmentation.total_customers,
                "segments": segments,
                "segmented_at": segmented_at,
            },
            session=session,
        )

    async def get(self, campaign_id: str) -> Document | None:
        return await self._segmentations.find_one({"_id": campaign_id})
