"""The faults, each an async function that disrupts the running stack and returns once it
has put things back (a process restarted, a switch turned off)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.events.envelope import CONTENT_TYPE
from shared.events.topics import DOMAIN_TOPICS
from tests.faults.stack import FaultStack
from tests.support.fake_stripe import server_error
from tests.support.kafka import cloud_event

# Past aiokafka's default session timeout (10 s): the group drops the frozen member.
FROZEN_SECONDS = 15.0
DATABASE_DELAY_SECONDS = 0.05
SLOW_DATABASE_SECONDS = 10.0
PROCESSOR_OUTAGE_SECONDS = 8.0
REDELIVERED_PER_PARTITION = 5
POISON_MARK = "fault-suite-poison"


@dataclass
class Injected:
    """What the suite itself put on the topics, so the count can tell it from the product's."""

    redelivered: dict[str, int] = field(default_factory=dict)  # event id -> extra copies
    poison: dict[str, str] = field(default_factory=dict)  # poison mark -> topic


type Fault = Callable[[FaultStack, Injected], Awaitable[None]]


def kill(service: str) -> Fault:
    async def sigkill_and_restart(stack: FaultStack, injected: Injected) -> None:
        stack.stack.processes.kill(service)
        stack.restart(service)
        await stack.wait_ready(service)

    return sigkill_and_restart


def freeze(service: str) -> Fault:
    async def sigstop_then_sigcont(stack: FaultStack, injected: Injected) -> None:
        process = stack.stack.processes.processes[service]
        os.killpg(process.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(FROZEN_SECONDS)
        finally:
            os.killpg(process.pid, signal.SIGCONT)

    return sigstop_then_sigcont


async def restart_database(stack: FaultStack, injected: Injected) -> None:
    """SIGKILL, then the same SQLite file served again on the same port."""
    assert stack.database_file is not None, "a restart keeps the data only on the SQLite engine"
    stack.stack.processes.kill("mongodb")
    stack.start_database()


async def slow_database(stack: FaultStack, injected: Injected) -> None:
    stack.proxy.delay = DATABASE_DELAY_SECONDS
    try:
        await asyncio.sleep(SLOW_DATABASE_SECONDS)
    finally:
        stack.proxy.delay = 0.0


async def processor_outage(stack: FaultStack, injected: Injected) -> None:
    """Stripe answers 503 to every request for a while, then recovers."""
    stack.stripe.fail_next(*[server_error(503)] * 100_000)
    try:
        await asyncio.sleep(PROCESSOR_OUTAGE_SECONDS)
    finally:
        stack.stripe.recover()


async def redeliver(stack: FaultStack, injected: Injected) -> None:
    """The last records of every partition of every topic, published again as they were."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka, group_id=None)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    await consumer.start()
    await producer.start()
    try:
        for topic in DOMAIN_TOPICS:
            for record in await _last_records(consumer, topic):
                await producer.send_and_wait(
                    topic, record.value, key=record.key, headers=list(record.headers)
                )
                event_id = _event_id(record.value)
                injected.redelivered[event_id] = injected.redelivered.get(event_id, 0) + 1
    finally:
        await consumer.stop()
        await producer.stop()


async def _last_records(consumer: AIOKafkaConsumer, topic: str) -> list[object]:
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    if not partitions:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    wanted = 0
    for partition in partitions:
        start = max(0, ends[partition] - REDELIVERED_PER_PARTITION)
        consumer.seek(partition, start)
        wanted += ends[partition] - start
    found: list[object] = []
    while len(found) < wanted:
        batches = await consumer.getmany(*partitions, timeout_ms=1000)
        if not batches:
            break
        for records in batches.values():
            found += [r for r in records if r.offset < ends[TopicPartition(r.topic, r.partition)]]
    return found


def _event_id(value: bytes | None) -> str:
    try:
        return str(json.loads(value or b"{}").get("id"))
    except (ValueError, AttributeError):
        return ""


async def publish_poison(stack: FaultStack, injected: Injected) -> None:
    """Two poison messages on every topic: bytes that are no JSON, and an event of the
    topic's type whose data is nonsense."""
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    await producer.start()
    headers = [("content-type", CONTENT_TYPE.encode())]
    try:
        for topic in DOMAIN_TOPICS:
            garbage = f"{POISON_MARK}-{uuid.uuid4().hex} is no JSON".encode()
            mark = f"{POISON_MARK}-{uuid.uuid4().hex}"
            nonsense = cloud_event(topic, {"nonsense": mark}, subject=mark)
            for value in (garbage, json.dumps(nonsense).encode()):
                await producer.send_and_wait(topic, value, key=b"poison", headers=headers)
            injected.poison[garbage.decode().split(" ")[0]] = topic
            injected.poison[mark] = topic
    finally:
        await producer.stop()
