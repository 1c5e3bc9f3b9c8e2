"""Which relay may publish a database's outbox: a lease with an owner, an expiry and a token.

Every replica of a service runs a relay over the same ``outbox``; only the one holding the
lease publishes, so a row goes out once rather than once per replica. The holder renews the
lease while it runs; a standby polls and takes it over once it has expired (a crashed holder)
or been released (a stopped one). Each takeover increments the fencing token, and the relay
marks rows only in a transaction that first confirms its own token (``confirm``): a relay
that paused past its lease and woke after a takeover can no longer act as the owner. Expiry
is judged by the database's clock (``$$NOW``), the one clock every replica shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.storage.mongo import Document

log = logging.getLogger(__name__)

OUTBOX_LEASE = "outbox_lease"
LEASE_ID = "outbox-relay"
NEVER_HELD = datetime(1970, 1, 1, tzinfo=UTC)


class LeaseLostError(Exception):
    """Another relay took the lease over (or it expired) before this one could act on it."""


class OutboxLease:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        duration: float,
        owner: str | None = None,
        replica: str | None = None,
    ) -> None:
        self._leases = db[OUTBOX_LEASE]
        # The replica's name says which one holds the lease; the pid and a nonce keep a
        # restarted replica of the same name from passing for its dead predecessor.
        name = replica or socket.gethostname()
        self.owner = owner or f"{name}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._duration = duration
        self.token: int | None = None
        # A conservative local view of the expiry: counted from before the renewal was sent.
        self._valid_until = 0.0
        self._created = False
        self._lock = asyncio.Lock()

    @property
    def held(self) -> bool:
        return self.token is not None and time.monotonic() < self._valid_until

    async def hold(self) -> bool:
        """Renew the lease if this relay holds it, else take it over if it is free; True if held."""
        async with self._lock:
            sent_at = time.monotonic()
            if self.token is not None and not await self._renew():
                log.warning("outbox lease (token %d) lost by %s", self.token, self.owner)
                self.token = None
            if self.token is None and (token := await self._take_over()) is not None:
                self.token = token
                log.info("outbox lease taken by %s (token %d)", self.owner, token)
            if self.token is not None:
                self._valid_until = sent_at + self._duration
            return self.token is not None

    async def confirm(self, session: AsyncClientSession) -> None:
        """In ``session``'s transaction: ours, same token, unexpired; else ``LeaseLostError``.

        Confirming renews, and that write makes a concurrent takeover conflict with the
        transaction instead of slipping past it.
        """
        if self.token is None or not await self._renew(session):
            self.token = None
            raise LeaseLostError(f"the outbox lease is no longer held by {self.owner}")

    async def release(self) -> None:
        """Expire the lease now, so a standby takes over at its next poll."""
        async with self._lock:
            if self.token is not None:
                await self._leases.update_one(
                    {"_id": LEASE_ID, "owner": self.owner, "token": self.token},
                    [{"$set": {"expires_at": "$$NOW"}}],
                )
                log.info("outbox lease (token %d) released by %s", self.token, self.owner)
            self.token = None

    async def _renew(self, session: AsyncClientSession | None = None) -> bool:
        renewed = await self._leases.update_one(
            {
                "_id": LEASE_ID,
                "owner": self.owner,
                "token": self.token,
                "$expr": {"$gt": ["$expires_at", "$$NOW"]},
            },
            [{"$set": {"expires_at": self._expiry()}}],
            session=session,
        )
        return renewed.matched_count == 1

    async def _take_over(self) -> int | None:
        """The new token, or None while another relay holds an unexpired lease."""
        await self._create_once()
        lease = await self._leases.find_one_and_update(
            {"_id": LEASE_ID, "$expr": {"$lte": ["$expires_at", "$$NOW"]}},
            [
                {
                    "$set": {
                        "owner": self.owner,
                        "token": {"$add": ["$token", 1]},
                        "expires_at": self._expiry(),
                    }
                }
            ],
            return_document=ReturnDocument.AFTER,
        )
        return None if lease is None else int(lease["token"])

    async def _create_once(self) -> None:
        # MongoDB refuses $expr in an upsert's filter, so the lease is first created expired.
        if not self._created:
            with contextlib.suppress(DuplicateKeyError):
                await self._leases.insert_one(
                    {"_id": LEASE_ID, "owner": None, "token": 0, "expires_at": NEVER_HELD}
                )
            self._created = True

    def _expiry(self) -> dict[str, Any]:
        return {"$add": ["$$NOW", int(self._duration * 1000)]}
