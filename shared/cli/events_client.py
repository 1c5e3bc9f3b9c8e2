"""Publish CloudEvents to, and follow them on, the broker the services use."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable, Iterable
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel

from shared.events.envelope import CloudEvent, event_to_json
from shared.events.topics import dead_letter_topic
from shared.messaging.security import cluster_options
from shared.settings import KafkaClientSettings

SOURCE = "/clients/campaignctl"

type Event = dict[str, Any]
type Delivery = asyncio.Future[Any]


def cloud_event(
    topic: str, data: BaseModel, *, subject: str, correlationid: str | None = None
) -> CloudEvent[Any]:
    """A client event: no ``causationid``, since nothing in the system caused it."""
    return CloudEvent[Any](
        source=SOURCE, type=topic, subject=subject, correlationid=correlationid, data=data
    )


class EventPublisher:
    """A producer that waits for every in-sync replica, like the services' own."""

    def __init__(self, cluster: KafkaClientSettings) -> None:
        self._producer = AIOKafkaProducer(
            **cluster_options(cluster), acks="all", linger_ms=5, client_id="campaignctl"
        )

    async def __aenter__(self) -> Self:
        await self._producer.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._producer.stop()

    async def send(self, topic: str, event: CloudEvent[Any], key: str) -> Delivery:
        """Queue ``event`` without waiting for the broker; the future settles on delivery."""
        delivery: Delivery = await self._producer.send(
            topic, event_to_json(event), key=key.encode()
        )
        return delivery

    async def send_and_wait(self, topic: str, event: CloudEvent[Any], key: str) -> None:
        await (await self.send(topic, event, key))

    async def flush(self) -> None:
        await self._producer.flush()


def belongs_to(campaign_id: str) -> Callable[[str, Event], bool]:
    """Events of one campaign; dead letters carry the campaign id as their Kafka key."""

    def matches(topic: str, event: Event) -> bool:
        if topic.endswith(dead_letter_topic("")):
            return event.get("key") == campaign_id
        return campaign_id in (event.get("correlationid"), event.get("subject"))

    return matches


async def follow(
    cluster: KafkaClientSettings, topics: Iterable[str], matches: Callable[[str, Event], bool]
) -> AsyncGenerator[tuple[str, Event]]:
    """Every matching event on ``topics`` from the beginning, then live, without a group.

    No consumer group: nothing is committed, so following never takes events from a service.
    Within each fetched batch events come in event-time order, so a replay reads as a story.
    """
    consumer = AIOKafkaConsumer(
        *topics,
        **cluster_options(cluster),
        group_id=None,
        auto_offset_reset="earliest",
        client_id="campaignctl",
    )
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            found: list[tuple[str, Event]] = []
            for records in batches.values():
                for record in records:
                    event = parsed(record.value)
                    if event is not None and matches(record.topic, event):
                        found.append((record.topic, event))
            for item in sorted(found, key=lambda pair: occurred_at(pair[1])):
                yield item
    finally:
        await consumer.stop()


def occurred_at(event: Event) -> str:
    """An event's time; a dead letter's is when it failed."""
    return str(event.get("time") or event.get("failed_at") or "")


def parsed(value: bytes | None) -> Event | None:
    try:
        event = json.loads(value or b"")
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


class CampaignEvents:
    """Collects one campaign's events in the background so the demo can wait on them."""

    def __init__(
        self, cluster: KafkaClientSettings, topics: Iterable[str], campaign_id: str
    ) -> None:
        self._stream = follow(cluster, topics, belongs_to(campaign_id))
        self.by_topic: dict[str, list[Event]] = defaultdict(list)
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._failure: Exception | None = None
        self.on_event: Callable[[str, Event], None] = lambda topic, event: None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._collect())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._stream.aclose()

    async def _collect(self) -> None:
        try:
            async for topic, event in self._stream:
                async with self._changed:
                    self.by_topic[topic].append(event)
                    self._changed.notify_all()
                self.on_event(topic, event)
        except Exception as error:  # surfaced to whoever waits, not lost in a task
            async with self._changed:
                self._failure = error
                self._changed.notify_all()

    def matching(self, topic: str, predicate: Callable[[Event], bool]) -> list[Event]:
        return [event for event in self.by_topic.get(topic, []) if predicate(event)]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Block until ``condition`` holds over what arrived; the caller bounds the wait."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._failure is not None or condition())
        if self._failure is not None:
            raise self._failure

    async def wait_for(
        self, topic: str, predicate: Callable[[Event], bool] = lambda _: True, count: int = 1
    ) -> list[Event]:
        await self.wait_until(lambda: len(self.matching(topic, predicate)) >= count)
        return self.matching(topic, predicate)
