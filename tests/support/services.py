"""Run services in the test's event loop against the real broker and database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiokafka import TopicPartition

from shared.runtime import Service, serve
from shared.settings import DEV_ONLY_ANALYTICS_API_KEY, ServiceSettings
from tests.support.infrastructure import TestInfrastructure, free_port

# What the reporting reads take in local mode: analytics, decision logs, the customer count.
REPORTS_AUTH = {"Authorization": f"Bearer {DEV_ONLY_ANALYTICS_API_KEY}"}


def settings_for[S: ServiceSettings](
    cls: type[S], infra: TestInfrastructure, **overrides: Any
) -> S:
    port_fields = [name for name in cls.model_fields if name.endswith("_port")]
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": infra.kafka,
        "mongodb_url": infra.mongodb,
        "mongodb_db_prefix": infra.db_prefix,
        "handler_retry_base_seconds": 0.05,
        "outbox_poll_seconds": 0.5,
        "log_format": "text",
        **{name: free_port() for name in port_fields},
    }
    return cls(**(values | overrides))


@contextlib.asynccontextmanager
async def running[S: ServiceSettings](
    build: Callable[[S], Service], settings: S
) -> AsyncIterator[Service]:
    """The service, started and ready; stopped as SIGTERM would stop it on exit."""
    service = build(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(service, stop))
    started = asyncio.create_task(service.started.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED, timeout=60)
    if task.done():
        task.result()
    assert service.started.is_set(), f"{service.infra.name} did not start within 60s"
    try:
        yield service
    finally:
        stop.set()
        await task


@contextlib.asynccontextmanager
async def running_all(
    services: list[tuple[Callable[[Any], Service], ServiceSettings]],
) -> AsyncIterator[list[Service]]:
    """Several services started together (their group joins overlap), stopped in reverse."""
    async with contextlib.AsyncExitStack() as stack:
        entered = await asyncio.gather(
            *(stack.enter_async_context(running(build, settings)) for build, settings in services)
        )
        yield list(entered)


async def until(condition: Callable[[], object], timeout: float = 30, what: str = "") -> None:
    """Poll ``condition`` until it holds; a bound on the wait, never a timing assertion."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout}s: {what or condition}") from None


async def until_async(
    condition: Callable[[], Awaitable[object]], timeout: float = 30, what: str = ""
) -> None:
    """``until`` for a condition that must be awaited (a database read, say)."""
    try:
        async with asyncio.timeout(timeout):
            while not await condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout}s: {what or condition}") from None


def consumer_of(service: Service, topic: str) -> Any:
    """The service's Kafka consumer of ``topic`` (an ``AIOKafkaConsumer``)."""
    [consumer] = [s.consumer for s in service.infra.broker.subscribers if topic in s.topic_names]
    return consumer


async def caught_up(service: Service, topic: str, timeout: float = 30) -> None:
    """Until the service's group on ``topic`` has committed everything published so far:
    nothing older is in flight or waiting, so what the test publishes next comes first."""
    consumer = consumer_of(service, topic)
    if not consumer.partitions_for_topic(topic):
        await consumer.topics()  # a consumer just started may not hold the metadata yet
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    if not partitions:
        raise AssertionError(f"{service.infra.name}: no partitions known for {topic}")
    ends = await consumer.end_offsets(partitions)

    async def behind() -> bool:
        committed = {tp: await consumer.committed(tp) or 0 for tp in ends}
        return any(committed[tp] < end for tp, end in ends.items())

    try:
        async with asyncio.timeout(timeout):
            while await behind():
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{service.infra.name} did not catch up on {topic}") from None
