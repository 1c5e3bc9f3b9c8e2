"""The segmenter's data: the customer base and each campaign's segmentation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime

from pymongo import ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.segmenter.conversion import Outcome
from services.segmenter.domain import Segmentation
from services.segmenter.features import ColumnsBuilder, CustomerColumns, cents
from shared.ai.decisions import DecisionLog
from shared.events.customers import CustomerUpserted
from shared.storage.mongo import Document
from shared.storage.newest import AS_OF, Version, as_stored, keep_newest
from shared.storage.unit_of_work import Transaction

type Members = list[tuple[str, str]]  # (customer id, segment id)

PROFILE_FIELDS = {
    "email_opt_in": 1,
    "created_at": 1,
    "orders_count": 1,
    "total_spent": 1,
    "last_purchase_at": 1,
    "last_engaged_at": 1,
}


class Customers:
    """One document per customer (``_id`` = customer id), stamped with its update's time."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        batch_size: int,
        session: AsyncClientSession | None = None,
    ) -> None:
        self._customers = db["customers"]
        self._batch_size = batch_size
        self._session = session

    async def keep_newest(self, updates: Iterable[tuple[CustomerUpserted, datetime]]) -> int:
        """Store each customer's newest update, as of its event's time, unless a newer one
        is stored; how many were written."""
        versions = (
            Version(customer.customer_id, as_of, customer.model_dump(mode="python"))
            for customer, as_of in updates
        )
        return await keep_newest(self._customers, versions, session=self._session)

    async def chunks(self, now: datetime) -> AsyncIterator[CustomerColumns]:
        """Every customer's features, ``batch_size`` at a time, in customer-id order (so
        reading the same base twice gives the same chunks). Only the chunk being read
        is held."""
        cursor = self._customers.find(
            {}, PROFILE_FIELDS, sort=[("_id", 1)], batch_size=self._batch_size
        )
        while batch := await cursor.to_list(self._batch_size):
            builder = ColumnsBuilder(len(batch), now)
            builder.add(
                customer_ids=[d["_id"] for d in batch],
                currencies=[d["total_spent"]["currency"] for d in batch],
                email_opt_in=[d["email_opt_in"] for d in batch],
                orders_count=[d["orders_count"] for d in batch],
                spent_cents=[cents(d["total_spent"]["amount"]) for d in batch],
                purchased_at=[d.get("last_purchase_at") for d in batch],
                engaged_at=[d.get("last_engaged_at") for d in batch],
                created_at=[d.get("created_at") for d in batch],
            )
            yield builder.columns()

    async def ensure_indexes(self) -> None:
        # An import polls how many customers it has brought up to date: a range on the index.
        await self._customers.create_index(AS_OF)

    async def count(self, updated_since: datetime | None = None) -> int:
        """How many customers are held; with ``updated_since``, how many are held in a
        version as of that time or later."""
        if updated_since is None:
            # The collection's own count, not a scan: a whole-collection count_documents is
            # an aggregation, which a large base takes past a server's in-memory budget.
            return await self._customers.estimated_document_count()
        return await self._customers.count_documents({AS_OF: {"$gte": as_stored(updated_since)}})


class Segmentations:
    """One document per campaign (``_id`` = campaign id): its segments and how many
    audience chunks hold its members (``Audiences``)."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._segmentations = db["segmentations"]
        self._session = session

    async def exists(self, campaign_id: str) -> bool:
        found = await self._segmentations.find_one(
            {"_id": campaign_id}, {"_id": 1}, session=self._session
        )
        return found is not None

    async def add(
        self,
        campaign_id: str,
        segmentation: Segmentation,
        audience_chunks: int,
        segmented_at: datetime,
    ) -> None:
        await self._segmentations.insert_one(
            {
                "_id": campaign_id,
                "total_customers": segmentation.total_customers,
                "segments": [s.model_dump(mode="python") for s in segmentation.segments],
                "audience_chunks": audience_chunks,
                "segmented_at": segmented_at,
            },
            session=self._session,
        )

    async def get(self, campaign_id: str) -> Document | None:
        return await self._segmentations.find_one({"_id": campaign_id})


class Audiences:
    """Who is in which segment of a campaign: one document per chunk of at most
    ``AUDIENCE_CHUNK`` members (``_id`` = campaign id/chunk), as its campaign.audience
    event carries them. A chunk is written whole, so writing it again is harmless."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._audiences = db["audiences"]

    async def forget(self, campaign_id: str) -> None:
        """Drop the chunks of an earlier, unfinished segmentation of the campaign."""
        await self._audiences.delete_many({"campaign_id": campaign_id})

    async def keep(self, campaign_id: str, first_chunk: int, chunks: list[Members]) -> None:
        """Store ``chunks`` as chunks ``first_chunk``, ``first_chunk + 1``...: one bulk write."""
        writes = [
            ReplaceOne(
                {"_id": f"{campaign_id}/{first_chunk + offset}"},
                {
                    "campaign_id": campaign_id,
                    "chunk": first_chunk + offset,
                    "members": [list(member) for member in members],
                },
                upsert=True,
            )
            for offset, members in enumerate(chunks)
        ]
        if writes:
            await self._audiences.bulk_write(writes, ordered=False)

    async def batches(
        self, campaign_id: str, count: int, size: int
    ) -> AsyncIterator[tuple[int, list[Members]]]:
        """Chunks 0 to ``count - 1`` in order, ``size`` at a time with the first's number."""
        cursor = self._audiences.find(
            {"campaign_id": campaign_id, "chunk": {"$lt": count}},
            sort=[("chunk", 1)],
            batch_size=size,
        )
        while documents := await cursor.to_list(size):
            members = [[(c, s) for c, s in document["members"]] for document in documents]
            yield documents[0]["chunk"], members

    async def ensure_indexes(self) -> None:
        await self._audiences.create_index([("campaign_id", 1), ("chunk", 1)])


class Outcomes:
    """Past campaigns' results per segment, the history behind predicted conversion.

    ``launches`` marks campaigns that went out; ``conversions`` counts attributed sales per
    (campaign, segment). Either can arrive first; only launched campaigns count, and their
    reach per segment is the segment size this service itself emitted for them.
    """

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._launches = db["launches"]
        self._conversions = db["conversions"]
        self._segmentations = db["segmentations"]
        self._session = session

    async def launched(self, campaign_id: str) -> None:
        await self._launches.update_one(
            {"_id": campaign_id}, {"$set": {"launched": True}}, upsert=True, session=self._session
        )

    async def converted(self, campaign_id: str, segment_id: str) -> None:
        await self._conversions.update_one(
            {"_id": f"{campaign_id}/{segment_id}"},
            {
                "$set": {"campaign_id": campaign_id, "segment_id": segment_id},
                "$inc": {"conversions": 1},
            },
            upsert=True,
            session=self._session,
        )

    async def by_segment(self) -> dict[str, Outcome]:
        """Reach and conversions per segment id, over campaigns both launched and segmented
        here (a sale for a campaign this service never segmented has no reach to divide by)."""
        launched = [d["_id"] async for d in self._launches.find({}, {"_id": 1})]
        history: dict[str, Outcome] = {}
        counted: list[str] = []
        segmented = self._segmentations.find(
            {"_id": {"$in": launched}}, {"segments.segment_id": 1, "segments.size": 1}
        )
        async for document in segmented:
            counted.append(document["_id"])
            for segment in document["segments"]:
                self._add(history, segment["segment_id"], Outcome(reached=segment["size"]))
        async for document in self._conversions.find({"campaign_id": {"$in": counted}}):
            self._add(history, document["segment_id"], Outcome(conversions=document["conversions"]))
        return history

    @staticmethod
    def _add(history: dict[str, Outcome], segment_id: str, outcome: Outcome) -> None:
        history[segment_id] = history.get(segment_id, Outcome()) + outcome


class SegmenterTransaction(Transaction):
    """The segmenter's repositories, bound to one transaction: ``async with uow as tx``."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession, source: str
    ) -> None:
        super().__init__(db, session, source)
        # Writes only: reading the base in batches happens outside any transaction.
        self.customers = Customers(db, batch_size=1, session=session)
        self.segmentations = Segmentations(db, session)
        self.outcomes = Outcomes(db, session)
        self.decisions = DecisionLog(db, session)
