"""The outbox relay sends a batch without waiting row by row, marks what the broker
acknowledged in one write, and keeps each key's rows in commit order."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from pymongo import AsyncMongoClient, monitoring

from shared.messaging.broker import build_broker
from shared.messaging.outbox import OutboxRelay
from shared.storage.mongo import service_database
from shared.storage.unit_of_work import OUTBOX
from tests.support.outbox import committed, new_topic, outbox_row, records_on


class OutboxWrites(monitoring.CommandListener):
    """Counts the write commands sent to the outbox collection."""

    def __init__(self) -> None:
        self.writes = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in {"update", "insert", "delete"}:
            self.writes += event.command.get(event.command_name) == OUTBOX

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def counted_db(infra: Any) -> AsyncIterator[tuple[Any, OutboxWrites]]:
    listener = OutboxWrites()
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        infra.mongodb, tz_aware=True, event_listeners=[listener]
    )
    yield service_database(client, f"outbox_{uuid.uuid4().hex[:8]}", infra.db_prefix), listener
    await client.close()


@pytest.fixture
async def relay_broker(infra: Any) -> AsyncIterator[Any]:
    broker = build_broker(infra.kafka, client_id="batch-relay")
    await broker.connect()
    yield broker
    await broker.stop()


async def test_relay_marks_a_whole_batch_published_in_one_write(infra, counted_db, relay_broker):
    db, listener = counted_db
    topic = await new_topic(infra.kafka)
    rows = [outbox_row(topic, f"campaign-{i % 4}") for i in range(24)]
    await committed(db, *rows)
    relay = OutboxRelay(db, relay_broker, batch_size=100)
    listener.writes = 0

    assert await relay.flush() == 24

    assert listener.writes <= 1  # every row of the batch marked by one update command
    assert await relay.pending() == 0


async def test_relay_keeps_each_keys_rows_in_commit_order(infra, counted_db, relay_broker):
    db_for_order, _ = counted_db
    topic = await new_topic(infra.kafka)
    rows = [outbox_row(topic, f"campaign-{i % 3}") for i in range(60)]
    await committed(db_for_order, *rows)
    relay = OutboxRelay(db_for_order, relay_broker, batch_size=25)

    assert await relay.flush() == 60

    published = await records_on(infra.kafka, topic)
    for key in ("campaign-0", "campaign-1", "campaign-2"):
        sent = [row["event_id"] for row in rows if row["key"] == key]
        assert [event["id"] for event in published if event["subject"] == key] == sent


async def test_failed_publish_mid_batch_marks_only_the_acknowledged_rows(
    infra, counted_db, relay_broker, monkeypatch
):
    db, listener = counted_db
    topic = await new_topic(infra.kafka)
    before, failing, after, other_key = (
        outbox_row(topic, "campaign-1"),
        outbox_row(topic, "campaign-2"),
        outbox_row(topic, "campaign-3"),
        outbox_row(topic, "campaign-4"),
    )
    await committed(db, before, failing, after, other_key)
    publish = relay_broker.publish

    async def refused_once(value: bytes, *args: Any, **kwargs: Any) -> Any:
        if json.loads(value)["id"] == failing["event_id"]:
            monkeypatch.setattr(relay_broker, "publish", publish)  # the broker is back next time
            refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            refused.set_exception(KafkaTimeoutError())
            return refused
        return await publish(value, *args, **kwargs)

    monkeypatch.setattr(relay_broker, "publish", refused_once)
    relay = OutboxRelay(db, relay_broker)
    listener.writes = 0

    with pytest.raises(KafkaTimeoutError):
        await relay.flush()

    assert listener.writes <= 1
    still_pending = [row["event_id"] async for row in db[OUTBOX].find({"published_at": None})]
    assert still_pending == [failing["event_id"]]
    assert await relay.flush() == 1
    published = Counter(event["id"] for event in await records_on(infra.kafka, topic))
    assert published == Counter({row["event_id"]: 1 for row in (before, failing, after, other_key)})
