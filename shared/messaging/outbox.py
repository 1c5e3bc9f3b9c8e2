"""The outbox relay: publishes committed outbox rows to Kafka, in order, then marks them sent.

Handlers never publish; they write outbox rows in their transaction. Every replica runs a
relay, and the one holding the database's lease (``outbox_lease``) publishes: it wakes on
every commit (and polls as a safety net), sends a batch, waits for the broker's acks and
only then marks the acknowledged rows published, in one write, in a transaction that
confirms its lease token (``outbox_batch`` says what a partial failure marks). A crash
between the two republishes a row: delivery is at-least-once and consumers deduplicate on
the event id. A row that can never be published is parked (``parked_at``, ``park_reason``)
and logged instead of blocking the rows behind it; a broker that cannot take rows now is
retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection

from faststream.kafka import KafkaBroker
from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from shared.events.envelope import utc_now
from shared.messaging.outbox_batch import SentBatch, send_batch
from shared.messaging.outbox_lease import LeaseLostError, OutboxLease
from shared.retry import Backoff
from shared.storage.mongo import Document
from shared.storage.unit_of_work import (
    CONFLICT_ATTEMPTS,
    CONFLICT_BACKOFF,
    OUTBOX,
    is_write_conflict,
)

log = logging.getLogger(__name__)

PENDING = {"published_at": None, "parked_at": None}
BROKER_RETRY = Backoff(first=0.5, cap=30.0)

type Exclusive = Callable[[], contextlib.AbstractAsyncContextManager[object]]
type TopicLister = Callable[[], Awaitable[Collection[str]]]


class OutboxRelay:
    """Publishes one database's outbox while it holds that database's lease.

    ``exclusive`` is held around the relay's writes (the unit of work's lock when
    transactions are serialised). ``existing_topics`` lists the broker's topics, so a row
    for a topic the broker lacks is parked at once; without it such a row waits out the
    producer's metadata timeout and is retried like any transient failure.
    """

    def __init__(
        self,
        db: AsyncDatabase[Document],
        broker: KafkaBroker,
        *,
        exclusive: Exclusive = contextlib.nullcontext,
        poll_interval: float = 1.0,
        batch_size: int = 100,
        lease_seconds: float = 15.0,
        renew_seconds: float = 5.0,
        existing_topics: TopicLister | None = None,
        replica: str | None = None,
    ) -> None:
        if not 0 < renew_seconds < lease_seconds:
            raise ValueError(f"renew_seconds ({renew_seconds}) must be below {lease_seconds}")
        self._db = db
        self._outbox = db[OUTBOX]
        self._exclusive = exclusive
        self._broker = broker
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._lease = OutboxLease(db, duration=lease_seconds, replica=replica)
        self._renew_seconds = renew_seconds
        self._existing_topics = existing_topics
        self._known_topics: set[str] = set()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def notify(self) -> None:
        """Called after a commit that wrote outbox rows."""
        self._wake.set()

    def start(self) -> asyncio.Task[None]:
        """Keep the lease (or stand by for it) and publish while holding it."""
        self._task = asyncio.create_task(self._run(), name="outbox-relay")
        return self._task

    async def stop(self) -> None:
        """Stop the loop, publish what is pending if this relay holds the lease, release it."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception as error:
            log.warning("outbox relay stopping with rows pending for the next owner: %r", error)
        try:
            async with self._exclusive():
                await self._lease.release()
        except Exception as error:
            log.warning(
                "outbox lease not released; a standby takes over when it expires: %r", error
            )

    async def pending(self) -> int:
        return await self._outbox.count_documents(PENDING)

    async def parked(self) -> int:
        """Rows set aside because they can never be published: each needs a person."""
        return await self._outbox.count_documents({"parked_at": {"$ne": None}})

    async def flush(self) -> int:
        """Publish every pending row if this relay holds, or can take, the lease.

        Returns how many were published; a standby publishes none. A broker that cannot take
        rows now raises its error once what it acknowledged is marked; the rest stay pending.
        """
        total = 0
        async with self._lock:
            try:
                while await self._hold_lease():
                    batch = await self._send_next_batch()
                    await self._settle(batch)
                    total += len(batch.published)
                    if batch.failure:
                        self._known_topics.clear()  # a topic may have gone: ask again
                        raise batch.failure
                    if not batch.settled:
                        break
            except LeaseLostError as lost:
                log.warning("%s; the new owner publishes what this relay could not mark", lost)
        return total

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._keep_lease())
            tasks.create_task(self._publish_while_holding())

    async def _keep_lease(self) -> None:
        while True:
            was_held = self._lease.held
            try:
                if await self._hold_lease() and not was_held:
                    self._wake.set()
            except Exception as error:
                log.warning("outbox lease could not be renewed or taken: %r", error)
            await asyncio.sleep(self._renew_seconds)

    async def _publish_while_holding(self) -> None:
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()
            if not self._lease.held:
                continue
            try:
                await self.flush()
                failures = 0
            except Exception as error:
                failures += 1
                delay = BROKER_RETRY.delay(failures)
                log.warning("outbox relay could not publish (%r); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)

    async def _hold_lease(self) -> bool:
        async with self._exclusive():
            return await self._lease.hold()

    async def _send_next_batch(self) -> SentBatch:
        rows = await self._outbox.find(PENDING).sort("_id", 1).limit(self._batch_size).to_list()
        return await send_batch(self._broker, rows, await self._missing_topics(rows))

    async def _missing_topics(self, rows: list[Document]) -> set[str]:
        """Topics of ``rows`` the broker does not have, asked only about topics not yet seen."""
        topics = {row["topic"] for row in rows if isinstance(row.get("topic"), str)}
        if self._existing_topics is None or topics <= self._known_topics:
            return set()
        self._known_topics = set(await self._existing_topics())
        return topics - self._known_topics

    async def _settle(self, batch: SentBatch) -> None:
        """Mark the published rows and park the unpublishable ones, while the lease is ours."""
        if not batch.settled:
            return
        now = utc_now()

        async def mark(session: AsyncClientSession) -> None:
            await self._lease.confirm(session)
            if batch.published:
                await self._outbox.update_many(
                    {"_id": {"$in": [row["_id"] for row in batch.published]}},
                    {"$set": {"published_at": now}},
                    session=session,
                )
            if batch.unpublishable:
                await self._outbox.bulk_write(
                    [
                        UpdateOne(
                            {"_id": row["_id"]}, {"$set": {"parked_at": now, "park_reason": reason}}
                        )
                        for row, reason in batch.unpublishable
                    ],
                    session=session,
                )

        # The embedded database reports a write conflict at commit, unlabelled, so the
        # driver does not retry it; marking is idempotent, so it is simply run again.
        retrying = CONFLICT_BACKOFF.retrying(attempts=CONFLICT_ATTEMPTS, retry_on=is_write_conflict)
        async for attempt in retrying:
            with attempt:
                async with self._exclusive(), self._db.client.start_session() as session:
                    await session.with_transaction(mark)
        self.published += len(batch.published)
        for row, reason in batch.unpublishable:
            log.error(
                "outbox row parked: event %s on topic %s can never be published: %s",
                row.get("event_id"),
                row.get("topic"),
                reason,
            )
