"""The outbox relay: publishes committed outbox rows to Kafka, in order, then marks them sent.

Handlers never publish; they write outbox rows in their transaction. The relay wakes on
every commit (and polls as a safety net), sends a batch, waits for the broker's acks and
only then marks the rows published. A crash between the two republishes a row on restart:
delivery is at-least-once and consumers deduplicate on the event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from shared.events.envelope import CONTENT_TYPE, utc_now
from shared.storage.mongo import Document
from shared.storage.unit_of_work import OUTBOX

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        broker: KafkaBroker,
        *,
        exclusive: Callable[[], contextlib.AbstractAsyncContextManager[object]] = (
            contextlib.nullcontext
        ),
        poll_interval: float = 1.0,
        batch_size: int = 100,
    ) -> None:
        self._outbox = db[OUTBOX]
        self._exclusive = exclusive
        self._broker = broker
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def notify(self) -> None:
        """Called after a commit that wrote outbox rows."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop the loop, then publish whatever is still pending."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def pending(self) -> int:
        return await self._outbox.count_documents({"published_at": None})

    async def flush(self) -> int:
        """Publish every pending row; returns how many were published."""
        total = 0
        async with self._lock:
            while sent := await self._publish_batch():
                total += sent
        return total

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("outbox relay failed; retrying in %.1fs", self._poll_interval)

    async def _publish_batch(self) -> int:
        rows = (
            await self._outbox.find({"published_at": None})
            .sort("_id", 1)
            .limit(self._batch_size)
            .to_list()
        )
        if not rows:
            return 0
        # Sends are pipelined; awaiting each delivery future keeps per-key order intact.
        futures = [
            await self._broker.publish(
                row["value"],
                row["topic"],
                key=row["key"].encode(),
                headers={"content-type": CONTENT_TYPE, "ce_id": row["event_id"]},
                no_confirm=True,
            )
            for row in rows
        ]
        await asyncio.gather(*futures)
        async with self._exclusive():
            await self._outbox.update_many(
                {"_id": {"$in": [row["_id"] for row in rows]}},
                {"$set": {"published_at": utc_now()}},
            )
        self.published += len(rows)
        return len(rows)
