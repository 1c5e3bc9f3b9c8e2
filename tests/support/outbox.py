"""Outbox rows as the unit of work writes them, and what reached a topic, read back in full."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.events.envelope import utc_now
from shared.messaging.broker import ensure_topics
from shared.messaging.topic_reading import records_up_to_now
from shared.storage.mongo import Document
from shared.storage.unit_of_work import OUTBOX
from tests.support.kafka import Event, cloud_event


def outbox_row(topic: str, key: str, *, padding: int = 0) -> Document:
    """A pending row in the unit of work's format; ``padding`` bytes make it as large as asked."""
    event = cloud_event(topic, {"padding": "x" * padding}, subject=key)
    return {
        "topic": topic,
        "key": key,
        "event_id": event["id"],
        "value": json.dumps(event).encode(),
        "created_at": utc_now(),
        "published_at": None,
    }


async def committed(db: AsyncDatabase[Document], *rows: Document) -> None:
    """Insert ``rows`` one by one, so their ``_id`` order is the order given (commit order)."""
    for row in rows:
        await db[OUTBOX].insert_one(row)


async def new_topic(bootstrap: str, partitions: int = 3) -> str:
    topic = f"outbox-test.{uuid.uuid4().hex[:10]}"
    await ensure_topics(bootstrap, topics=(topic,), partitions=partitions)
    return topic


async def records_on(bootstrap: str, topic: str) -> list[Event]:
    """Every record on ``topic`` from the first offset to the last, in partition order."""
    return [json.loads(r.value) for r in await records_up_to_now(bootstrap, [topic])]


async def until_published(db: AsyncDatabase[Document], row: Document, timeout: float = 30) -> Any:
    """Wait for the relay to mark ``row`` published; its ``published_at``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = await db[OUTBOX].find_one({"_id": row["_id"]})
        if stored and stored["published_at"] is not None:
            return stored["published_at"]
        await asyncio.sleep(0.05)
    raise AssertionError(f"outbox row {row['event_id']} was not published within {timeout}s")
