"""The send ledger: one document per campaign x customer x channel (``_id`` says which).

Targeting writes every decision once (a redelivered or resumed launch inserts the same ids
and changes nothing); the dispatcher moves a waiting delivery through ``sending`` to its
outcome. A unique ``_id`` is what makes "nobody twice" hold across crashes and replicas.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.launcher.domain.deliveries import (
    COUNTS_AS_CONTACT,
    WAITING,
    Delivery,
    DeliveryStatus,
    SkipReason,
)
from shared.storage.mongo import Document

DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class DeliveryTally:
    """A campaign's deliveries on one channel, counted by status and by skip reason."""

    by_status: Counter[DeliveryStatus] = field(default_factory=Counter)
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    people: int = 0


class Deliveries:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._deliveries = db["deliveries"]
        self._session = session

    async def ensure_indexes(self) -> None:
        # The dispatcher's question: what is due now; the cap's: who was contacted lately.
        await self._deliveries.create_index([("status", 1), ("send_at", 1)])
        await self._deliveries.create_index([("customer_id", 1), ("decided_at", 1)])
        await self._deliveries.create_index([("campaign_id", 1), ("status", 1)])

    async def record(self, decided: Sequence[Delivery]) -> int:
        """Insert decisions not yet recorded; an id already there keeps what it holds.

        Returns how many were new.
        """
        if not decided:
            return 0
        documents = [self._document(delivery) for delivery in decided]
        try:
            result = await self._deliveries.insert_many(
                documents, ordered=False, session=self._session
            )
            return len(result.inserted_ids)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return len(documents) - len(errors)

    async def contacts_since(self, customer_ids: Iterable[str], since: datetime) -> Counter[str]:
        """Per customer, the deliveries decided since ``since`` that were or may be sent."""
        counts: Counter[str] = Counter()
        cursor = await self._deliveries.aggregate(
            [
                {
                    "$match": {
                        "customer_id": {"$in": list(customer_ids)},
                        "decided_at": {"$gte": since},
                        "status": {"$in": [status.value for status in COUNTS_AS_CONTACT]},
                    }
                },
                {"$group": {"_id": "$customer_id", "n": {"$sum": 1}}},
            ],
            session=self._session,
        )
        async for row in cursor:
            counts[row["_id"]] = row["n"]
        return counts

    async def tally(self, campaign_id: str, channel: str) -> DeliveryTally:
        tally = DeliveryTally()
        cursor = await self._deliveries.aggregate(
            [
                {"$match": {"campaign_id": campaign_id, "channel": channel}},
                {"$group": {"_id": {"s": "$status", "r": "$skip_reason"}, "n": {"$sum": 1}}},
            ],
            session=self._session,
        )
        people = 0
        async for row in cursor:
            status = DeliveryStatus(row["_id"]["s"])
            tally.by_status[status] += row["n"]
            if status is DeliveryStatus.SKIPPED and row["_id"].get("r"):
                tally.skipped[SkipReason(row["_id"]["r"])] += row["n"]
            people += row["n"]
        return DeliveryTally(tally.by_status, tally.skipped, people)

    async def outstanding(self, campaign_id: str, due_by: datetime) -> int:
        """The campaign's messages due by ``due_by`` that have no outcome yet."""
        return await self._deliveries.count_documents(
            {
                "campaign_id": campaign_id,
                "$or": [
                    {"status": DeliveryStatus.SENDING.value},
                    {
                        "status": {"$in": [s.value for s in WAITING]},
                        "send_at": {"$lte": due_by},
                    },
                ],
            },
            session=self._session,
        )

    async def get(self, delivery_id: str) -> Delivery | None:
        document = await self._deliveries.find_one({"_id": delivery_id}, session=self._session)
        return Delivery.model_validate(document) if document else None

    @staticmethod
    def _document(delivery: Delivery) -> dict[str, Any]:
        return delivery.model_dump(mode="python") | {"_id": delivery.id}
