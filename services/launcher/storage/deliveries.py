"""The send ledger: one document per campaign x customer x channel (``_id`` says which).

Targeting writes every decision once (a redelivered or resumed launch inserts the same ids
and changes nothing); a wave's release gives a queued delivery its variant (``waves``); the
dispatcher moves a waiting delivery through ``sending`` to its outcome. A unique ``_id`` is
what makes "nobody twice" hold across crashes and replicas.

The dispatcher's writes are conditional, so two replicas never send one delivery: a claim
takes a delivery only while it still waits, and stamps it with the claim's token, the time
(``claimed_at``) and a lease (``sending_until``); an outcome is written only under the
token that claimed it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
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
from shared.events.common import Channel
from shared.storage.mongo import Document

DUPLICATE_KEY = 11000
# What an outcome changes; the rest of a delivery is decided once, by targeting.
OUTCOME_FIELDS = ("status", "skip_reason", "send_at", "message_id", "last_reply", "updated_at")


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
        await self._deliveries.create_index("claim", sparse=True)

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
            allowDiskUse=True,  # a campaign's ledger may outgrow a server's in-memory stage
        )
        people = 0
        async for row in cursor:
            status = DeliveryStatus(row["_id"]["s"])
            tally.by_status[status] += row["n"]
            if status is DeliveryStatus.SKIPPED and row["_id"].get("r"):
                tally.skipped[SkipReason(row["_id"]["r"])] += row["n"]
            people += row["n"]
        return DeliveryTally(tally.by_status, tally.skipped, people)

    async def any_outstanding(self, campaign_id: str, due_by: datetime) -> bool:
        """Whether a message of the campaign due by ``due_by`` still has no outcome: one
        document answers, however large the campaign."""
        found = await self._deliveries.find_one(
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
            {"_id": 1},
            session=self._session,
        )
        return found is not None

    async def get(self, delivery_id: str) -> Delivery | None:
        document = await self._deliveries.find_one({"_id": delivery_id}, session=self._session)
        return Delivery.model_validate(document) if document else None

    async def due(self, channel: Channel, now: datetime, limit: int) -> list[Delivery]:
        """Up to ``limit`` deliveries on ``channel`` waiting with ``send_at`` at or before
        ``now``, the earliest first."""
        found: list[Delivery] = []
        # One query per waiting status: an equality keeps each on the (status, send_at) index.
        for status in sorted(WAITING):
            cursor = self._deliveries.find(
                {"status": status.value, "send_at": {"$lte": now}, "channel": channel.value},
                sort=[("send_at", 1)],
                limit=limit,
                session=self._session,
            )
            found += [Delivery.model_validate(document) async for document in cursor]
        return sorted(found, key=lambda delivery: delivery.send_at or now)[:limit]

    async def claim(
        self, claims: Sequence[tuple[str, str]], token: str, now: datetime, until: datetime
    ) -> set[str]:
        """Mark ``sending`` each ``(delivery id, message id)`` that is still waiting and due,
        under ``token`` and a lease until ``until``; the ids this call took."""
        if not claims:
            return set()
        result = await self._deliveries.bulk_write(
            [
                UpdateOne(
                    {
                        "_id": delivery_id,
                        "status": {"$in": [status.value for status in WAITING]},
                        "send_at": {"$lte": now},
                    },
                    {
                        "$set": {
                            "status": DeliveryStatus.SENDING.value,
                            "claim": token,
                            "sending_until": until,
                            "claimed_at": now,
                            "message_id": message_id,
                            "updated_at": now,
                        },
                        "$inc": {"attempts": 1},
                    },
                )
                for delivery_id, message_id in claims
            ],
            ordered=False,
            session=self._session,
        )
        ids = {delivery_id for delivery_id, _ in claims}
        if result.modified_count == len(ids):
            return ids
        cursor = self._deliveries.find({"claim": token}, {"_id": 1}, session=self._session)
        return {document["_id"] async for document in cursor} & ids

    async def settle(self, outcomes: Sequence[Delivery], token: str) -> None:
        """Write each claimed delivery's outcome, if ``token`` still holds its claim."""
        await self._write_outcomes(outcomes, {"claim": token})

    async def skip(self, skipped: Sequence[Delivery]) -> None:
        """Record deliveries sent nothing after all, if they are still waiting."""
        waiting = {"status": {"$in": [status.value for status in WAITING]}}
        await self._write_outcomes(skipped, waiting)

    async def expire_sending(self, now: datetime) -> int:
        """Deliveries left ``sending`` past their lease become ``unknown``: their process
        stopped mid-transaction, so they may have arrived, and they are never sent again."""
        result = await self._deliveries.update_many(
            {"status": DeliveryStatus.SENDING.value, "sending_until": {"$lt": now}},
            {
                "$set": {
                    "status": DeliveryStatus.UNKNOWN.value,
                    "last_reply": "interrupted: the sending process stopped mid-transaction",
                    "updated_at": now,
                }
            },
            session=self._session,
        )
        return result.modified_count

    async def _write_outcomes(self, deliveries: Sequence[Delivery], only_if: Document) -> None:
        if not deliveries:
            return
        await self._deliveries.bulk_write(
            [
                UpdateOne(
                    {"_id": delivery.id, **only_if},
                    {"$set": delivery.model_dump(mode="python", include=set(OUTCOME_FIELDS))},
                )
                for delivery in deliveries
            ],
            ordered=False,
            session=self._session,
        )

    @staticmethod
    def _document(delivery: Delivery) -> dict[str, Any]:
        return delivery.model_dump(mode="python") | {"_id": delivery.id}
