"""The suppression list the launcher owns: customers no marketing email may reach.

One document per customer (``_id``), with every reason they were added for: an
unsubscribe, a hard bounce or a complaint. Adding twice keeps one entry per reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from shared.storage.mongo import Document


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"


class Suppression(NamedTuple):
    customer_id: str
    reason: SuppressionReason
    at: datetime
    campaign_id: str | None


class SuppressionList:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._suppressed = db["suppression"]
        self._session = session

    async def add(
        self, customer_id: str, reason: SuppressionReason, at: datetime, campaign_id: str | None
    ) -> bool:
        """Suppress the customer for ``reason``; False if they already were, for it.

        Read first rather than filter the upsert on the reason: a filtered upsert that
        misses collides on ``_id``, and a duplicate key aborts the caller's transaction.
        """
        found = await self._suppressed.find_one(
            {"_id": customer_id}, {"reasons": 1}, session=self._session
        )
        if found is not None and reason.value in found.get("reasons", ()):
            return False
        await self._suppressed.update_one(
            {"_id": customer_id},
            _addition(reason, at, campaign_id),
            upsert=True,
            session=self._session,
        )
        return True

    async def add_many(self, additions: Sequence[Suppression]) -> None:
        """``add`` for many customers in one write."""
        if not additions:
            return
        await self._suppressed.bulk_write(
            [
                UpdateOne(
                    {"_id": added.customer_id},
                    _addition(added.reason, added.at, added.campaign_id),
                    upsert=True,
                )
                for added in additions
            ],
            ordered=False,
            session=self._session,
        )

    async def among(self, customer_ids: Iterable[str]) -> set[str]:
        """Which of ``customer_ids`` are suppressed."""
        cursor = self._suppressed.find(
            {"_id": {"$in": list(customer_ids)}}, {"_id": 1}, session=self._session
        )
        return {doc["_id"] async for doc in cursor}


def _addition(reason: SuppressionReason, at: datetime, campaign_id: str | None) -> Document:
    return {
        "$setOnInsert": {"since": at},
        "$addToSet": {"reasons": reason.value},
        "$push": {"history": {"reason": reason.value, "at": at, "campaign": campaign_id}},
    }
