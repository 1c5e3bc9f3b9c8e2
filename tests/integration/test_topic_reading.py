"""Reading a whole topic without a group: the reset a consumer starts on its own for freshly
assigned partitions must not undo the reader's seek to the beginning.

aiokafka resets a fresh partition with the consumer's ``auto_offset_reset`` (``latest`` by
default) in a task of its own, and applies the answer to any partition still awaiting a
reset: when that answer lands after ``seek_to_beginning`` asked for the earliest offset, the
partition goes to its end and the read finds nothing. The test holds the fetcher's own reset
answer at a barrier until the reader has asked for the beginning: the order that lost every
record of a topic in one full-suite run, made certain.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.consumer.fetcher import Fetcher

from tests.support.consumer_groups import everything_on
from tests.support.kafka import create_topics, own_topic

RECORDS = 7
IN_THE_FETCHERS_RESET: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "in_the_fetchers_reset", default=False
)


@pytest.fixture
def reset_answered_after_the_seek(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fetcher's own offset resets answer only once ``seek_to_beginning`` was called."""
    sought = asyncio.Event()
    update, request, seek = (
        Fetcher._update_fetch_positions,
        Fetcher._proc_offset_request,
        AIOKafkaConsumer.seek_to_beginning,
    )

    async def fetchers_reset(self: Fetcher, *args: Any) -> Any:
        IN_THE_FETCHERS_RESET.set(True)  # this task's context only
        return await update(self, *args)

    async def offset_request(self: Fetcher, *args: Any) -> Any:
        answer = await request(self, *args)
        if IN_THE_FETCHERS_RESET.get():
            await sought.wait()
        return answer

    async def seek_to_beginning(self: AIOKafkaConsumer, *partitions: Any) -> None:
        sought.set()
        await seek(self, *partitions)

    monkeypatch.setattr(Fetcher, "_update_fetch_positions", fetchers_reset)
    monkeypatch.setattr(Fetcher, "_proc_offset_request", offset_request)
    monkeypatch.setattr(AIOKafkaConsumer, "seek_to_beginning", seek_to_beginning)


async def test_a_reset_answered_after_the_seek_does_not_skip_the_records(
    infra, reset_answered_after_the_seek
):
    topic = own_topic("reading")
    await create_topics(infra.kafka, topic)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka)
    await producer.start()
    try:
        for n in range(RECORDS):
            await producer.send_and_wait(topic, b"{}", key=str(n).encode())
    finally:
        await producer.stop()

    records = await everything_on(infra.kafka, topic)

    assert len(records) == RECORDS
