"""Leases on calls in flight: who is asking a processor about an attempt or a refund.

A call to a processor can outlast any fixed window (PayPal's token, order and capture, each
retried; Stripe's three tries), so "started long ago" does not mean "interrupted". The
caller holds a lease on the attempt's key (or the refund's id) and renews it while the
call is in flight (``heartbeat``); reconciliation treats a call as interrupted only once
its lease has expired, and then takes it over with a compare-and-set on the lease's
``token``, so of several replicas exactly one resumes it. Expiry is judged on the wall
clock of the replica asking, which is what the owner's renewals are written in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.storage.mongo import Document, stored_now

log = logging.getLogger(__name__)

LEASES = "call_leases"


@dataclass(frozen=True)
class LeaseTerms:
    """Who this process is, and for how long a renewal holds."""

    owner: str
    duration: timedelta

    @property
    def renew_every(self) -> float:
        return self.duration.total_seconds() / 3


class Leases:
    """Bound to ``session`` when built for a transaction: a lease granted with the attempt
    it covers commits with it."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._leases = db[LEASES]
        self._session = session

    async def ensure_indexes(self) -> None:
        # Expired leases of finished calls are dropped after a day; nothing reads them.
        await self._leases.create_index("until", expireAfterSeconds=86_400)

    async def grant(self, key: str, terms: LeaseTerms, now: datetime) -> None:
        await self._leases.replace_one(
            {"_id": key},
            {"owner": terms.owner, "until": now + terms.duration, "token": 1},
            upsert=True,
            session=self._session,
        )

    async def release(self, key: str, owner: str) -> None:
        await self._leases.delete_one({"_id": key, "owner": owner}, session=self._session)

    async def held_by_another(self, key: str, owner: str, now: datetime) -> bool:
        """Whether another caller's lease on ``key`` is still running."""
        found = await self._leases.find_one({"_id": key}, session=self._session)
        return found is not None and found["owner"] != owner and found["until"] > now

    async def take_over(self, key: str, terms: LeaseTerms, now: datetime) -> bool:
        """Takes the lease on ``key`` when none is running; False if another holds it."""
        until = now + terms.duration
        taken = await self._leases.find_one_and_update(
            {"_id": key, "$or": [{"until": {"$lte": now}}, {"owner": terms.owner}]},
            {"$set": {"owner": terms.owner, "until": until}, "$inc": {"token": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if taken is not None:
            return True
        try:
            await self._leases.insert_one({"_id": key, "owner": terms.owner, "until": until})
        except DuplicateKeyError:
            return False  # a running lease, or another replica took it first
        return True

    async def renew(self, key: str, terms: LeaseTerms) -> bool:
        renewed = await self._leases.update_one(
            {"_id": key, "owner": terms.owner},
            {"$set": {"until": stored_now() + terms.duration}},
        )
        return renewed.matched_count == 1

    @contextlib.asynccontextmanager
    async def heartbeat(self, key: str, terms: LeaseTerms) -> AsyncIterator[None]:
        """Renews the lease on ``key`` while the block runs: the call is alive."""
        renewing = asyncio.create_task(self._keep_renewing(key, terms))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _keep_renewing(self, key: str, terms: LeaseTerms) -> None:
        while True:
            await asyncio.sleep(terms.renew_every)
            try:
                if not await self.renew(key, terms):
                    log.warning("lease on %s was taken over while the call ran", key)
                    return
            except PyMongoError as error:
                # The call goes on; if renewals keep failing the lease lapses and
                # reconciliation may take the attempt over, which lookups make safe.
                log.warning("could not renew the lease on %s: %s", key, error)
