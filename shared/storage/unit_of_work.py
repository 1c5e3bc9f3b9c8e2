"""One MongoDB transaction around a state change, its processed-event mark and its outbox rows.

Consuming an event: the event id goes into ``processed_events`` (unique index, TTL) in the
same transaction as the state change and the events it emits into ``outbox``. A redelivered
event hits the unique index, the transaction aborts, and nothing changes or is emitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from shared.events.envelope import CloudEvent, event_to_json, utc_now
from shared.storage.mongo import Document

log = logging.getLogger(__name__)

PROCESSED_EVENTS = "processed_events"
OUTBOX = "outbox"
DEFAULT_DEDUP_WINDOW = timedelta(days=7)
CONFLICT_RETRIES = 20
WRITE_CONFLICT = 112


class Transaction:
    """What a unit of work's body sees: the session to pass to writes, and ``emit``."""

    def __init__(self, db: AsyncDatabase[Document], session: AsyncClientSession, source: str):
        self.db = db
        self.session = session
        self._source = source
        self.emitted: list[CloudEvent[Any]] = []

    async def emit(
        self,
        topic: str,
        data: BaseModel,
        *,
        key: str,
        cause: CloudEvent[Any] | None = None,
        causation_id: str | None = None,
    ) -> CloudEvent[Any]:
        """Queue ``data`` as a CloudEvent on ``topic``; it is published only if this commits.

        The correlation id is the cause's (the campaign id, end to end), else ``key``.
        """
        event = CloudEvent[Any](
            source=self._source,
            type=topic,
            subject=key,
            correlationid=(cause.correlationid if cause else None) or key,
            causationid=cause.id if cause else causation_id,
            data=data,
        )
        await self.db[OUTBOX].insert_one(
            {
                "topic": topic,
                "key": key,
                "event_id": event.id,
                "value": event_to_json(event),
                "created_at": event.time,
                "published_at": None,
            },
            session=self.session,
        )
        self.emitted.append(event)
        return event


type Work = Callable[[Transaction], Awaitable[None]]


class UnitOfWork:
    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        *,
        source: str,
        on_commit: Callable[[], None] = lambda: None,
        serialize: bool = False,
    ) -> None:
        self._client = client
        self.db = db
        self._source = source
        self.on_commit = on_commit
        self._serialize = serialize
        self._write_lock = asyncio.Lock()

    def exclusive(self) -> contextlib.AbstractAsyncContextManager[object]:
        """Held around every write when transactions are serialised (see ServiceSettings)."""
        return self._write_lock if self._serialize else contextlib.nullcontext()

    async def ensure_indexes(self, dedup_window: timedelta = DEFAULT_DEDUP_WINDOW) -> None:
        processed = self.db[PROCESSED_EVENTS]
        await processed.create_index(
            "processed_at", expireAfterSeconds=int(dedup_window.total_seconds())
        )
        # Published rows expire after a day; unpublished ones (published_at null) never do.
        await self.db[OUTBOX].create_index("published_at", expireAfterSeconds=86_400)

    async def run(self, work: Work) -> Transaction:
        """Run ``work`` in one transaction, retried on write conflicts; publish its events."""
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                tx = await self._run_once(work)
            except OperationFailure as error:
                if not _is_unlabelled_write_conflict(error) or attempt == CONFLICT_RETRIES:
                    raise
                await asyncio.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                continue
            if tx.emitted:
                self.on_commit()
            return tx
        raise AssertionError("unreachable")

    async def _run_once(self, work: Work) -> Transaction:
        async with self.exclusive(), self._client.start_session() as session:
            holder: list[Transaction] = []

            async def body(s: AsyncClientSession) -> None:
                holder.clear()
                tx = Transaction(self.db, s, self._source)
                holder.append(tx)
                await work(tx)

            await session.with_transaction(body)
        return holder[0]

    async def consume(self, event_id: str, work: Work) -> bool:
        """Apply ``work`` for the event ``event_id`` once; False if it was already processed."""

        async def once(tx: Transaction) -> None:
            await tx.db[PROCESSED_EVENTS].insert_one(
                {"_id": event_id, "processed_at": utc_now()}, session=tx.session
            )
            await work(tx)

        try:
            await self.run(once)
        except DuplicateKeyError as error:
            if not _is_processed_event_clash(error):
                raise
            log.info("skipping redelivered event %s", event_id)
            return False
        return True


def _is_unlabelled_write_conflict(error: OperationFailure) -> bool:
    """MongoDB labels a write conflict TransientTransactionError and ``with_transaction``
    retries it; the embedded wire server (mongoeco) reports it unlabelled at commit."""
    return not error.has_error_label("TransientTransactionError") and (
        error.code == WRITE_CONFLICT or "write conflict" in str(error).lower()
    )


def _is_processed_event_clash(error: DuplicateKeyError) -> bool:
    details = error.details or {}
    namespace = str(details.get("ns", "")) + str(details.get("errmsg", "")) + str(error)
    return PROCESSED_EVENTS in namespace
