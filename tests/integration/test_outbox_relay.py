"""The outbox relay against the real broker and database: one active relay per database,
fenced by its lease, and poisoned rows parked instead of blocking the rows behind them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import pytest
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from shared.devstack.processes import ProcessGroup
from shared.messaging.broker import build_broker, list_topics
from shared.messaging.outbox import OutboxRelay
from shared.storage.mongo import connect, service_database
from shared.storage.unit_of_work import OUTBOX
from tests.support.infrastructure import free_port
from tests.support.outbox import committed, new_topic, outbox_row, records_on, until_published

# Short enough for a takeover to happen within a test, long enough to outlast a batch.
QUICK_LEASE = {"lease_seconds": 1.0, "renew_seconds": 0.2, "poll_interval": 0.1}

type Connect = Callable[[str], Awaitable[KafkaBroker]]
type Exclusive = Callable[[], contextlib.AbstractAsyncContextManager[None]]


@pytest.fixture
async def db(infra: Any) -> AsyncIterator[Any]:
    client = connect(infra.mongodb, app_name="outbox-tests")
    yield service_database(client, f"outbox_{uuid.uuid4().hex[:8]}", infra.db_prefix)
    await client.close()


@pytest.fixture
async def broker(infra: Any) -> AsyncIterator[Connect]:
    """Connected brokers, one per relay, as each replica of a service has its own."""
    brokers: list[KafkaBroker] = []

    async def connected(name: str) -> KafkaBroker:
        built = build_broker(infra.kafka, client_id=name)
        await built.connect()
        brokers.append(built)
        return built

    yield connected
    for built in brokers:
        await built.stop()


def counted(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(event["id"] for event in events)


async def test_two_relays_on_one_database_publish_every_row_exactly_once(infra, db, broker):
    topic = await new_topic(infra.kafka)
    rows = [outbox_row(topic, key=f"campaign-{i % 3}") for i in range(12)]
    await committed(db, *rows)
    # Each relay's writes wait until the other has reached one too, or given up: without a
    # lease both read the rows before either marks them, the interleaving two replicas get
    # by chance, here every time.
    reached = {"first": asyncio.Event(), "second": asyncio.Event()}

    def marking_together(name: str, other: str) -> Exclusive:
        @contextlib.asynccontextmanager
        async def exclusive() -> AsyncIterator[None]:
            reached[name].set()
            await reached[other].wait()
            yield

        return exclusive

    async def flush(relay: OutboxRelay, name: str) -> int:
        try:
            return await relay.flush()
        finally:
            reached[name].set()

    first = OutboxRelay(
        db, await broker("replica-1"), exclusive=marking_together("first", "second")
    )
    second = OutboxRelay(
        db, await broker("replica-2"), exclusive=marking_together("second", "first")
    )

    await asyncio.gather(flush(first, "first"), flush(second, "second"))

    published = await records_on(infra.kafka, topic)
    assert counted(published) == Counter(row["event_id"] for row in rows)
    for key in {row["key"] for row in rows}:
        in_commit_order = [row["event_id"] for row in rows if row["key"] == key]
        assert [event["id"] for event in published if event["subject"] == key] == in_commit_order
    assert await first.pending() == 0


async def test_standby_takes_over_once_a_crashed_relays_lease_expires(infra, db, broker):
    topic = await new_topic(infra.kafka)
    active = OutboxRelay(db, await broker("active"), **QUICK_LEASE)
    standby = OutboxRelay(db, await broker("standby"), **QUICK_LEASE)
    before = outbox_row(topic, "campaign-1")
    await committed(db, before)
    assert await active.flush() == 1  # it holds the lease from here on
    crashed = active.start()
    standby.start()

    crashed.cancel()  # a crash: the lease is neither renewed nor released
    with contextlib.suppress(asyncio.CancelledError):
        await crashed
    after = outbox_row(topic, "campaign-1")
    await committed(db, after)
    await until_published(db, after)
    await standby.stop()

    assert counted(await records_on(infra.kafka, topic)) == Counter(
        {before["event_id"]: 1, after["event_id"]: 1}
    )


async def test_stopped_relay_publishes_what_is_pending_and_hands_over_at_once(infra, db, broker):
    topic = await new_topic(infra.kafka)
    minute = {"lease_seconds": 60.0, "renew_seconds": 20.0}
    active = OutboxRelay(db, await broker("active"), **minute)
    successor = OutboxRelay(db, await broker("successor"), **minute)
    assert await active.flush() == 0  # nothing pending, but the lease is taken
    pending_at_stop = outbox_row(topic, "campaign-1")
    await committed(db, pending_at_stop)
    assert await successor.flush() == 0  # a standby publishes nothing

    await active.stop()
    later = outbox_row(topic, "campaign-1")
    await committed(db, later)

    assert await successor.flush() == 1  # well within the minute the lease would have run
    assert counted(await records_on(infra.kafka, topic)) == Counter(
        {pending_at_stop["event_id"]: 1, later["event_id"]: 1}
    )


async def test_relay_whose_lease_was_taken_over_marks_nothing(infra, db, broker, monkeypatch):
    topic = await new_topic(infra.kafka)
    row = outbox_row(topic, "campaign-1")
    await committed(db, row)
    paused, resume = asyncio.Event(), asyncio.Event()
    stale_broker = await broker("stale")
    publish = stale_broker.publish

    async def publish_after_a_pause(*args: Any, **kwargs: Any) -> Any:
        paused.set()
        await resume.wait()
        return await publish(*args, **kwargs)

    monkeypatch.setattr(stale_broker, "publish", publish_after_a_pause)
    stale = OutboxRelay(db, stale_broker, **QUICK_LEASE)
    # The owner's own lease runs a minute: the stale relay cannot take it back in this test.
    owner = OutboxRelay(db, await broker("owner"), lease_seconds=60.0, renew_seconds=20.0)
    stale_flush = asyncio.create_task(stale.flush())
    await paused.wait()  # it holds the lease and has read the row; now it stalls

    while await owner.flush() == 0:  # takes over once the stale relay's lease has expired
        await asyncio.sleep(0.1)
    marked_by_owner = await until_published(db, row)
    resume.set()  # the stale relay wakes, publishes again and tries to mark

    assert await stale_flush == 0
    assert stale.published == 0
    assert (await db[OUTBOX].find_one({"_id": row["_id"]}))["published_at"] == marked_by_owner
    assert await stale.flush() == 0


async def test_oversized_row_is_parked_and_the_rows_after_it_are_published(
    infra, db, broker, caplog
):
    topic = await new_topic(infra.kafka)
    first = outbox_row(topic, "campaign-1")
    oversized = outbox_row(topic, "campaign-1", padding=1_200_000)  # above max_request_size
    same_key = outbox_row(topic, "campaign-1")
    other_key = outbox_row(topic, "campaign-2")
    await committed(db, first, oversized, same_key, other_key)
    relay = OutboxRelay(db, await broker("relay"))

    with caplog.at_level(logging.ERROR, logger="shared.messaging.outbox"):
        assert await relay.flush() == 3

    published = await records_on(infra.kafka, topic)
    assert [event["id"] for event in published if event["subject"] == "campaign-1"] == [
        first["event_id"],
        same_key["event_id"],
    ]
    assert counted(published)[other_key["event_id"]] == 1
    parked = await db[OUTBOX].find_one({"_id": oversized["_id"]})
    assert parked["published_at"] is None
    assert parked["parked_at"] is not None
    assert "MessageSizeTooLargeError" in parked["park_reason"]
    assert await relay.parked() == 1
    assert await relay.pending() == 0
    [logged] = [r for r in caplog.records if r.name == "shared.messaging.outbox"]
    assert oversized["event_id"] in logged.getMessage()
    assert topic in logged.getMessage()
    assert "xxxxxxxx" not in logged.getMessage()


async def test_row_for_a_topic_the_broker_does_not_have_is_parked(infra, db, broker):
    topic = await new_topic(infra.kafka)
    lost = outbox_row(f"never-created.{uuid.uuid4().hex[:8]}", "campaign-1")
    after = outbox_row(topic, "campaign-1")
    await committed(db, lost, after)
    relay = OutboxRelay(
        db, await broker("relay"), existing_topics=partial(list_topics, infra.kafka)
    )

    assert await relay.flush() == 1

    assert counted(await records_on(infra.kafka, topic)) == Counter({after["event_id"]: 1})
    parked = await db[OUTBOX].find_one({"_id": lost["_id"]})
    assert "does not exist" in parked["park_reason"]
    assert await relay.parked() == 1


async def test_broker_outage_parks_nothing_and_leaves_rows_pending(infra, db, tmp_path):
    port = free_port()
    outage = ProcessGroup(tmp_path)
    outage.start_broker("127.0.0.1", port)
    try:
        bootstrap = f"127.0.0.1:{port}"
        topic = await new_topic(bootstrap)
        # A short request timeout, so the outage is noticed within the test.
        down = KafkaBroker(bootstrap, acks="all", request_timeout_ms=1000)
        await down.connect()
        rows = [outbox_row(topic, "campaign-1"), outbox_row(topic, "campaign-2")]
        await committed(db, *rows)
        relay = OutboxRelay(db, down)
        await down.publish(b"warm-up", topic)  # the topic's partitions are known
        outage.stop(["kafka"])

        with pytest.raises(KafkaError):
            await relay.flush()

        assert await relay.parked() == 0
        assert await relay.pending() == 2
        await down.stop()
    finally:
        outage.stop()
