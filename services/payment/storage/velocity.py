"""Velocity counters: recent payments and declines per customer, payment token and IP.

Counted in the payment's own transaction: the payment's timestamp is pushed onto its
counters and the windows are read back from the same write, so twenty requests at once
each see the nineteen others that committed before it. Concurrent transactions writing
one counter conflict and one of them runs again; none can count an empty window past
another's payment. Counters are keyed by keyed fingerprints (``risk.fingerprint``) for
tokens and addresses, never by the values themselves.

Each counter keeps its latest ``KEPT`` timestamps: more than any rule needs to reach its
cap, so the counts that matter are exact and a counter's size stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.domain.risk import WindowCounts
from services.payment.domain.risk_policy import Lookback
from shared.storage.mongo import Document

VELOCITY = "velocity_counters"
KEPT = 100


@dataclass(frozen=True)
class Velocity:
    """Payments in each window, the one being counted included, and declines in the long one."""

    payments: WindowCounts
    declines: int


class VelocityCounters:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._counters = db[VELOCITY]
        self._session = session

    async def count_payment(self, key: str, now: datetime, lookback: Lookback) -> Velocity:
        """Adds a payment at ``now`` to the counter ``key`` and reads its windows."""
        counter = await self._counters.find_one_and_update(
            {"_id": key},
            {"$push": {"payments": {"$each": [now], "$slice": -KEPT}}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        payments: list[datetime] = (counter or {}).get("payments", [])
        declines: list[datetime] = (counter or {}).get("declines", [])
        long_since, short_since = now - lookback.long_window, now - lookback.short_window
        return Velocity(
            WindowCounts(
                short=sum(1 for at in payments if short_since < at <= now),
                long=sum(1 for at in payments if long_since < at <= now),
            ),
            declines=sum(1 for at in declines if long_since < at <= now),
        )

    async def count_decline(self, key: str, now: datetime) -> None:
        await self._counters.update_one(
            {"_id": key},
            {"$push": {"declines": {"$each": [now], "$slice": -KEPT}}},
            upsert=True,
            session=self._session,
        )
