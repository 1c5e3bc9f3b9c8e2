"""Batch consumption (shared/messaging/batches.py), pinned against the real broker and database.

Every message is published before the consumer starts, so that its first fetch reads them
all: the batch the scenario needs, without waiting for one to form.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from aiokafka import AIOKafkaProducer

from shared.devstack.processes import host_port
from shared.events.dead_letters import DeadLetter
from shared.events.envelope import CONTENT_TYPE
from shared.events.topics import dead_letter_topic
from tests.support.kafka import Event, Publisher, cloud_event, create_topics, own_topic, read_topic
from tests.support.probe_service import ProbeLedger, ProbeSettings, batch_probe_service
from tests.support.services import consumer_of, running, settings_for, until, until_async
from tests.support.tcp_proxy import tcp_proxy

if TYPE_CHECKING:
    from shared.runtime import Service
    from tests.support.infrastructure import TestInfrastructure


@pytest.fixture
def batch_settings(infra: TestInfrastructure) -> ProbeSettings:
    own_database = f"{infra.db_prefix}{uuid.uuid4().hex[:6]}_"
    return settings_for(
        ProbeSettings, infra, handler_max_attempts=3, mongodb_db_prefix=own_database
    )


async def fresh_topic(infra: TestInfrastructure, purpose: str) -> str:
    topic = own_topic(purpose)
    await create_topics(infra.kafka, topic, dead_letter_topic(topic))
    return topic


def probe(topic: str, name: str, **data: Any) -> Event:
    return cloud_event(topic, {"name": name, **data}, subject="k")


async def stored_probes(service: Service) -> Counter[str]:
    return Counter([d["name"] async for d in service.infra.db["probes"].find({})])


async def test_a_poison_event_in_a_batch_is_dead_lettered_alone_and_the_rest_commit(
    infra: TestInfrastructure, publisher: Publisher, batch_settings: ProbeSettings
) -> None:
    topic = await fresh_topic(infra, "batch-poison")
    ledger = ProbeLedger()
    poison = probe(topic, "poison", fail_times=99)
    sent = [probe(topic, "a"), poison, probe(topic, "b"), probe(topic, "c")]
    for event in sent[:2]:
        await publisher.send(topic, event, key="k")
    await publisher.send(topic, b"{not json", key="k")
    for event in sent[2:]:
        await publisher.send(topic, event, key="k")

    async with running(lambda s: batch_probe_service(s, ledger, topic), batch_settings) as service:
        records = await read_topic(infra.kafka, dead_letter_topic(topic), count=2)
        await until(lambda: "c" in ledger.done, what="the events around the poison one")
        stored = await stored_probes(service)

    assert ledger.batches[0] == ["a", "poison", "b", "c"]  # one batch, failed by one event
    letters = {record.offset: DeadLetter.model_validate_json(record.value) for record in records}
    undecodable, failing = letters[0], letters[1]
    assert undecodable.original == "{not json"
    assert undecodable.error.type == "JSONDecodeError"
    assert undecodable.attempts == 1
    assert failing.original == json.dumps(poison)
    assert failing.error.message == "simulated failure 4"  # one run in the batch, three alone
    assert failing.attempts == 3
    assert failing.consumer_group == f"flaky-batch.{topic}"
    assert stored == {"a": 1, "b": 1, "c": 1}


async def test_a_redelivered_batch_applies_nothing_twice(
    infra: TestInfrastructure, publisher: Publisher, batch_settings: ProbeSettings
) -> None:
    topic = await fresh_topic(infra, "batch-redelivery")
    ledger = ProbeLedger()
    first = [probe(topic, name) for name in ("a", "b", "c")]
    for event in [*first, first[1]]:  # b twice within the batch
        await publisher.send(topic, event, key="k")
    async with running(lambda s: batch_probe_service(s, ledger, topic), batch_settings):
        await until(lambda: "c" in ledger.done, what="the first batch")

    # The whole batch again, as after a crash before its offsets were committed.
    for event in [*first, probe(topic, "d")]:
        await publisher.send(topic, event, key="k")
    async with running(lambda s: batch_probe_service(s, ledger, topic), batch_settings) as service:
        await until(lambda: "d" in ledger.done, what="the event after the redelivered batch")
        stored = await stored_probes(service)

    assert ledger.done == ["a", "b", "c", "d"]
    assert stored == {"a": 1, "b": 1, "c": 1, "d": 1}


async def test_a_failing_batch_is_retried_one_event_at_a_time_until_each_succeeds(
    infra: TestInfrastructure, publisher: Publisher, batch_settings: ProbeSettings
) -> None:
    topic = await fresh_topic(infra, "batch-recovers")
    ledger = ProbeLedger()
    for event in (probe(topic, "a"), probe(topic, "recovers", fail_times=2), probe(topic, "b")):
        await publisher.send(topic, event, key="k")
    async with running(lambda s: batch_probe_service(s, ledger, topic), batch_settings) as service:
        await until(lambda: "b" in ledger.done, what="the batch, one event at a time")
        await until_async(
            lambda: _stored_exactly(service, {"a": 1, "recovers": 1, "b": 1}),
            what="each event stored once",
        )
    assert ledger.attempts["recovers"] == 3
    assert ledger.done == ["a", "recovers", "b"]


async def _stored_exactly(service: Service, expected: dict[str, int]) -> bool:
    return await stored_probes(service) == expected


async def test_a_batch_arriving_during_a_database_outage_is_applied_once_when_it_ends(
    infra: TestInfrastructure, publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.messaging")
    topic = await fresh_topic(infra, "batch-outage")
    ledger = ProbeLedger()

    def outage_warnings() -> int:
        return sum(
            1
            for r in caplog.records
            if r.name.startswith("shared.messaging") and "infrastructure unavailable" in r.message
        )

    async with tcp_proxy(*host_port(infra.mongodb, 27017)) as database:
        settings = settings_for(
            ProbeSettings,
            infra,
            mongodb_url=database.url_for(infra.mongodb),
            mongodb_server_selection_timeout_seconds=0.5,
            mongodb_db_prefix=f"{infra.db_prefix}{uuid.uuid4().hex[:6]}_",
            handler_max_attempts=2,
        )
        async with running(lambda s: batch_probe_service(s, ledger, topic), settings) as service:
            database.cut()
            try:
                for name in ("a", "b", "c"):
                    await publisher.send(topic, probe(topic, name), key="k")
                await until(lambda: outage_warnings() > 2, timeout=120, what="outage retries")
                paused_during = consumer_of(service, topic).paused()
            finally:
                database.restore()
            await until(lambda: "c" in ledger.done, what="the batch once the outage ended")
            stored = await stored_probes(service)
    assert [tp.topic for tp in paused_during] == [topic]
    assert ledger.attempts == {"a": 1, "b": 1, "c": 1}  # never split, never failed
    assert stored == {"a": 1, "b": 1, "c": 1}
    assert not [r for r in caplog.records if "dead-lettered" in r.message]


async def test_a_message_with_an_undecodable_header_is_dead_lettered_alone_from_its_batch(
    infra: TestInfrastructure, batch_settings: ProbeSettings
) -> None:
    topic = await fresh_topic(infra, "batch-headers")
    ledger = ProbeLedger()
    sent = [
        (probe(topic, "a"), ("x-trace", b"fine")),
        (probe(topic, "no-value"), ("x-trace", None)),
        (probe(topic, "b"), ("x-trace", b"fine")),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all")
    await producer.start()
    try:
        for event, header in sent:
            headers = [("content-type", CONTENT_TYPE.encode()), header]
            await producer.send_and_wait(
                topic, json.dumps(event).encode(), key=b"k", headers=headers
            )
    finally:
        await producer.stop()
    async with running(lambda s: batch_probe_service(s, ledger, topic), batch_settings):
        [record] = await read_topic(infra.kafka, dead_letter_topic(topic))
        await until(lambda: "b" in ledger.done, what="the messages around the bad header")
    letter = DeadLetter.model_validate_json(record.value)
    assert json.loads(letter.original)["id"] == sent[1][0]["id"]
    assert letter.error.type == "InvalidHeaderError"
    assert letter.error.message == "header 'x-trace': has no value"
    assert letter.attempts == 0
    assert ledger.batches == [["a", "b"]]
