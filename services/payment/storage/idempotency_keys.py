"""Stored idempotency keys: the request each was claimed for, the payment (and refund) it
concerns, and the answer once there is one.

A key is ``in_progress`` while its first request works, ``provisional`` once that request
answered without a decision (202: the processor has not decided yet), and ``done`` with
the final answer. Whoever settles the payment later (reconciliation, a webhook) answers
the keys still open on it, so every claimed key ends with a stored answer. The semantics
(claiming, waiting, replaying) are in ``idempotency``; this is their storage.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.storage.mongo import Document
from shared.storage.unit_of_work import ensure_ttl_index

IDEMPOTENCY_KEYS = "idempotency_keys"
IN_PROGRESS, PROVISIONAL, DONE = "in_progress", "provisional", "done"


class KeyClaimedError(Exception):
    """Another request claimed the key first."""


@dataclass(frozen=True)
class StoredKey:
    key: str
    request_hash: str
    payment_id: str
    refund_id: str | None = None
    status: str = IN_PROGRESS
    status_code: int | None = None
    response: dict[str, Any] | None = None

    @property
    def answered(self) -> bool:
        return self.status_code is not None and self.response is not None


class IdempotencyKeys:
    """Bound to ``session`` when built for a transaction, so a key is claimed and answered
    in the same transaction as the work it starts or the change that decides it."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        keep_for: timedelta,
        session: AsyncClientSession | None = None,
    ) -> None:
        self._keys = db[IDEMPOTENCY_KEYS]
        self._payments = PaymentAnswers(db, session)
        self._keep_for = keep_for
        self._session = session

    async def ensure_indexes(self) -> None:
        await ensure_ttl_index(self._keys, "created_at", self._keep_for)
        await self._keys.create_index([("payment_id", 1), ("status", 1)])

    async def claim(
        self,
        key: str,
        request_hash: str,
        payment_id: str,
        now: datetime,
        refund_id: str | None = None,
    ) -> None:
        """Raises ``KeyClaimedError`` when the key was claimed before."""
        document = {
            "_id": key,
            "request_hash": request_hash,
            "payment_id": payment_id,
            "status": IN_PROGRESS,
            "created_at": now,
        }
        if refund_id is not None:
            document["refund_id"] = refund_id
        try:
            await self._keys.insert_one(document, session=self._session)
        except DuplicateKeyError:
            raise KeyClaimedError(key) from None

    async def answer(
        self, key: str, status_code: int, response: dict[str, Any], *, final: bool
    ) -> None:
        await self._keys.update_one(
            {"_id": key, "status": {"$ne": DONE}},
            {
                "$set": {
                    "status": DONE if final else PROVISIONAL,
                    "status_code": status_code,
                    "response": response,
                }
            },
            session=self._session,
        )

    async def get(self, key: str) -> StoredKey | None:
        """The key, with its answer. The first request's own answer, written with the
        payment's outcome (``Payments.record_outcome``), wins when final: a later change
        answering the key (still open here) must not replace what was answered."""
        document = await self._keys.find_one({"_id": key}, session=self._session)
        if document is None:
            return None
        stored = _stored(document)
        on_payment = await self._payments.answer_to(stored.payment_id, key)
        if on_payment is None or (stored.answered and not on_payment["final"]):
            return stored
        return dataclasses.replace(
            stored,
            status=DONE if on_payment["final"] else PROVISIONAL,
            status_code=on_payment["status_code"],
            response=on_payment["response"],
        )

    async def open_for(self, payment_id: str) -> list[StoredKey]:
        """The keys on this payment still waiting for a final answer."""
        found = self._keys.find(
            {"payment_id": payment_id, "status": {"$in": [IN_PROGRESS, PROVISIONAL]}},
            session=self._session,
        )
        return [_stored(document) async for document in found]


class PaymentAnswers:
    """The answers ``Payments.record_outcome`` keeps on a payment, read by key."""

    def __init__(self, db: AsyncDatabase[Document], session: AsyncClientSession | None) -> None:
        self._payments = db["payments"]
        self._session = session

    async def answer_to(self, payment_id: str, key: str) -> Document | None:
        document = await self._payments.find_one(
            {"_id": payment_id}, {"answers": 1}, session=self._session
        )
        answers = (document or {}).get("answers") or []
        return next((a for a in answers if a.get("key") == key), None)


def _stored(document: Document) -> StoredKey:
    return StoredKey(
        key=document["_id"],
        request_hash=document["request_hash"],
        payment_id=document["payment_id"],
        refund_id=document.get("refund_id"),
        status=document.get("status", IN_PROGRESS),
        status_code=document.get("status_code"),
        response=document.get("response"),
    )
