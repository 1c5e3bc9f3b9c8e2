"""Publish events and watch topics on the real broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.events.envelope import CONTENT_TYPE
from shared.events.topics import ALL_TOPICS
from shared.messaging.broker import ensure_topics

type Event = dict[str, Any]


def cloud_event(topic: str, data: dict[str, Any], *, subject: str, **extra: Any) -> Event:
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/clients/tests",
        "type": topic,
        "time": datetime.now(UTC).isoformat(),
        "subject": subject,
        "datacontenttype": "application/json",
        "correlationid": subject,
        "data": data,
    }
    return event | extra


def as_published(value: Any) -> Any:
    """``value`` as an event's data carries it: events leave out absent (null) fields."""
    if isinstance(value, dict):
        return {k: as_published(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [as_published(item) for item in value]
    return value


class Publisher:
    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(
        self, topic: str, event: Event | bytes, key: str, headers: dict[str, str] | None = None
    ) -> None:
        value = event if isinstance(event, bytes) else json.dumps(event).encode()
        # Structured-mode CloudEvents, labelled as the outbox relay and campaignctl label them.
        labelled = {"content-type": CONTENT_TYPE} | (headers or {})
        encoded = [(name, text.encode()) for name, text in labelled.items()]
        await self._producer.send_and_wait(topic, value, key=key.encode(), headers=encoded)


class EventLog:
    """Everything published on the given topics since the log started, by topic."""

    def __init__(self, bootstrap: str, topics: tuple[str, ...] = ALL_TOPICS) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        self.by_topic: dict[str, list[Event]] = defaultdict(list)
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()

    async def _collect(self) -> None:
        async for record in self._consumer:
            try:
                value = json.loads(record.value)
            except ValueError:
                value = {"_raw": record.value}
            async with self._changed:
                self.by_topic[record.topic].append(value)
                self._changed.notify_all()

    def matching(self, topic: str, predicate: Callable[[Event], bool]) -> list[Event]:
        return [e for e in self.by_topic.get(topic, []) if predicate(e)]

    async def wait_for(
        self,
        topic: str,
        predicate: Callable[[Event], bool],
        *,
        count: int = 1,
        timeout: float = 30,
    ) -> list[Event]:
        async def enough() -> list[Event]:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.matching(topic, predicate)) >= count)
            return self.matching(topic, predicate)

        try:
            return await asyncio.wait_for(enough(), timeout)
        except TimeoutError:
            found = len(self.matching(topic, predicate))
            raise AssertionError(
                f"{found} of {count} expected events on {topic} within {timeout}s"
            ) from None


def for_campaign(campaign_id: str) -> Callable[[Event], bool]:
    return lambda e: e.get("correlationid") == campaign_id or e.get("subject") == campaign_id


def own_topic(purpose: str) -> str:
    """A topic of one test's own, so nothing else reads it or has a backlog on it."""
    return f"test.{purpose}.{uuid.uuid4().hex[:8]}"


async def create_topics(bootstrap: str, *topics: str) -> None:
    await ensure_topics(bootstrap_servers=bootstrap, topics=topics, partitions=1)


async def delete_topics(bootstrap: str, *topics: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(topics))
    finally:
        await admin.close()


async def read_topic(
    bootstrap: str, topic: str, count: int = 1, timeout: float = 30
) -> list[ConsumerRecord]:
    """The first ``count`` records on ``topic``, once it exists and holds that many."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    found: list[ConsumerRecord] = []
    try:
        async with asyncio.timeout(timeout):
            while topic not in await consumer.topics() or not consumer.partitions_for_topic(topic):
                await asyncio.sleep(0.1)
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while len(found) < count:
                batches = await consumer.getmany(timeout_ms=500)
                found += [record for records in batches.values() for record in records]
    except TimeoutError:
        found_count = f"{len(found)} of {count} records"
        raise AssertionError(f"{found_count} on {topic} within {timeout}s") from None
    finally:
        await consumer.stop()
    return found
