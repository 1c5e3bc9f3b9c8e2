"""Stored idempotency keys: the request each was claimed for and, once done, the answer.

The semantics (claiming, waiting, replaying) are in ``idempotency``; this is their storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.storage.mongo import Document
from shared.storage.unit_of_work import ensure_ttl_index

IDEMPOTENCY_KEYS = "idempotency_keys"
IN_PROGRESS, DONE = "in_progress", "done"


@dataclass(frozen=True)
class StoredKey:
    request_hash: str
    payment_id: str
    status_code: int | None = None  # None while the first request is in progress
    response: dict[str, Any] | None = None


class IdempotencyKeys:
    """Claimed keys with the request they were used for and, once done, the response sent."""

    def __init__(self, db: AsyncDatabase[Document], keep_for: timedelta) -> None:
        self._keys = db[IDEMPOTENCY_KEYS]
        self._keep_for = keep_for

    async def ensure_indexes(self) -> None:
        await ensure_ttl_index(self._keys, "created_at", self._keep_for)

    async def claim(
        self,
        key: str,
        request_hash: str,
        payment_id: str,
        now: datetime,
        session: AsyncClientSession,
    ) -> None:
        """Raises ``DuplicateKeyError`` when the key was claimed before."""
        await self._keys.insert_one(
            {
                "_id": key,
                "request_hash": request_hash,
                "payment_id": payment_id,
                "status": IN_PROGRESS,
                "created_at": now,
            },
            session=session,
        )

    async def complete(
        self, key: str, status_code: int, response: dict[str, Any], session: AsyncClientSession
    ) -> None:
        await self._keys.update_one(
            {"_id": key},
            {"$set": {"status": DONE, "status_code": status_code, "response": response}},
            session=session,
        )

    async def get(self, key: str) -> StoredKey | None:
        document = await self._keys.find_one({"_id": key})
        if document is None:
            return None
        return StoredKey(
            request_hash=document["request_hash"],
            payment_id=document["payment_id"],
            status_code=document.get("status_code"),
            response=document.get("response"),
        )


def is_idempotency_key_clash(error: DuplicateKeyError) -> bool:
    details = error.details or {}
    return IDEMPOTENCY_KEYS in str(details.get("ns", "")) + str(details.get("errmsg", "")) + str(
        error
    )
