"""Sending one batch of outbox rows, and telling a row that can never go out from a broker
that cannot take it now.

Every row of the batch is handed to the producer in ``_id`` (commit) order without waiting
for its acknowledgement; then all the acknowledgements are awaited together. A key always
maps to one partition, and the producer keeps one request in flight per partition and
retries a failed request before the next, so a key's rows reach the broker in commit order.

A row that can never be published (too large, a topic the broker does not have or refuses,
a malformed row) is set aside to be parked, and the rows after it, of its key or any other,
still go out. A transient failure (broker down, timeout) is the batch's failure: every row
the broker acknowledged counts as published, so that none goes out twice, and the rows it
did not acknowledge stay pending. A row the producer gave up on after its own retries goes
out after the rows of its key that were acknowledged; only the idempotent producer
(``KAFKA_IDEMPOTENT_PRODUCER``), whose broker refuses a partition's requests after a gap,
keeps a key's order across such a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import (
    InvalidTopicError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)
from faststream.kafka import KafkaBroker

from shared.events.envelope import CONTENT_TYPE
from shared.messaging.trace_context import continuing
from shared.storage.mongo import Document

# Errors the same row meets on every attempt: the broker will never take it as it is.
UNPUBLISHABLE = (MessageSizeTooLargeError, InvalidTopicError, TopicAuthorizationFailedError)
ROW_FIELDS: dict[str, type | tuple[type, ...]] = {
    "topic": str,
    "key": str,
    "event_id": str,
    "value": (bytes, str),
}


@dataclass
class SentBatch:
    published: list[Document] = field(default_factory=list)
    unpublishable: list[tuple[Document, str]] = field(default_factory=list)
    failure: Exception | None = None  # transient: this row and the rest stay pending

    @property
    def settled(self) -> bool:
        return bool(self.published or self.unpublishable)


async def send_batch(
    broker: KafkaBroker, rows: list[Document], missing_topics: Collection[str]
) -> SentBatch:
    """Send ``rows``; ``missing_topics`` are topics the broker was just found not to have."""
    batch = SentBatch()
    sent: list[tuple[Document, asyncio.Future[Any]]] = []
    for row in rows:
        reason = malformed(row) or (
            f"topic {row['topic']!r} does not exist" if row["topic"] in missing_topics else None
        )
        if reason:
            batch.unpublishable.append((row, reason))
            continue
        try:
            sent.append((row, await send(broker, row)))
        except Exception as error:
            if not set_aside(batch, row, error):
                break
    acknowledgements = await asyncio.gather(*(ack for _, ack in sent), return_exceptions=True)
    for (row, _), acknowledged in zip(sent, acknowledgements, strict=True):
        if not isinstance(acknowledged, BaseException):
            batch.published.append(row)
        elif isinstance(acknowledged, Exception):
            set_aside(batch, row, acknowledged)
        else:
            break  # cancelled: this row and the rest are sent again
    return batch


async def send(broker: KafkaBroker, row: Document) -> asyncio.Future[Any]:
    """Hand ``row`` to the producer; the future resolves once the broker has acknowledged it.

    Published under the trace that emitted the row, so the producer's span joins it."""
    with continuing(row):
        return await broker.publish(
            row["value"],
            row["topic"],
            key=row["key"].encode(),
            headers={"content-type": CONTENT_TYPE, "ce_id": row["event_id"]},
            no_confirm=True,
        )


def set_aside(batch: SentBatch, row: Document, error: Exception) -> bool:
    """Record why ``row`` can never be published; False (and the batch's failure) if it may yet."""
    if isinstance(error, UNPUBLISHABLE):
        batch.unpublishable.append((row, f"{type(error).__name__}: {error}"))
        return True
    batch.failure = batch.failure or error
    return False


def malformed(row: Document) -> str | None:
    for name, kind in ROW_FIELDS.items():
        if not isinstance(row.get(name), kind):
            return f"malformed outbox row: {name} is {type(row.get(name)).__name__}"
    return None
