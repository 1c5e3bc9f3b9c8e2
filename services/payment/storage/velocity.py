"""Velocity counters: recent payments per customer, payment token and IP address.

Declines are not counted here: they are the failed payments themselves, read with the
amount facts (``risk_history``), so a decline costs no write of its own.

Read before the payment's transaction (with the amount facts, ``risk_history``) and
bumped in it by one write that holds only if each counter is still at the version read
(``n``), so twenty requests at once each see the nineteen others that committed before
it: a payment whose counter moved meanwhile is scored again. None can count an empty
window past another's payment. Counters are keyed by keyed fingerprints
(``risk.fingerprint``) for tokens and addresses, never by the values themselves.

Each counter keeps its latest ``KEPT`` timestamps: more than any rule needs to reach its
cap, so the counts that matter are exact and a counter's size stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from services.payment.domain.risk import WindowCounts
from services.payment.domain.risk_policy import Lookback
from shared.storage.mongo import Document, is_duplicate_key
from shared.storage.unit_of_work import WriteConflictError

VELOCITY = "velocity_counters"
KEPT = 100


@dataclass(frozen=True)
class Velocity:
    """Payments in each window, the one being counted included."""

    payments: WindowCounts


class VelocityCounters:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._counters = db[VELOCITY]
        self._session = session

    async def count_payments(
        self, seen: dict[str, Document], keys: list[str], now: datetime, lookback: Lookback
    ) -> dict[str, Velocity]:
        """Adds a payment at ``now`` to each counter in ``keys``, as ``seen`` read them
        before the transaction, in one write. A counter that moved since it was read
        (another payment counted meanwhile) raises ``WriteConflictError``: the payment is
        scored again on the counters as they are then, so none is scored on a stale window."""
        writes = []
        for key in keys:
            version = seen.get(key, {}).get("n")
            writes.append(
                UpdateOne(
                    {"_id": key, "n": version if version is not None else {"$exists": False}},
                    {
                        "$push": {"payments": {"$each": [now], "$slice": -KEPT}},
                        "$inc": {"n": 1},
                    },
                    upsert=True,
                )
            )
        try:
            await self._counters.bulk_write(writes, session=self._session)
        except PyMongoError as error:
            if is_duplicate_key(error):  # the upsert met a counter another payment moved
                raise WriteConflictError(f"velocity counted concurrently: {error}") from error
            raise
        return {key: _windows(seen.get(key, {}), now, lookback, counted=now) for key in keys}


def _windows(
    counter: Document, now: datetime, lookback: Lookback, counted: datetime | None = None
) -> Velocity:
    payments: list[datetime] = [*counter.get("payments", []), *([counted] if counted else [])]
    long_since, short_since = now - lookback.long_window, now - lookback.short_window
    return Velocity(
        WindowCounts(
            short=sum(1 for at in payments[-KEPT:] if short_since < at <= now),
            long=sum(1 for at in payments[-KEPT:] if long_since < at <= now),
        )
    )
