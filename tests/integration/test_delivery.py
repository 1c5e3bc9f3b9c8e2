"""Delivery guarantees from shared/, pinned against the real broker and database."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiokafka import AIOKafkaProducer

from shared.events.dead_letters import DeadLetter
from shared.events.envelope import CONTENT_TYPE
from shared.events.topics import CUSTOMER_UPSERTED, dead_letter_topic
from tests.support.kafka import cloud_event, create_topics, own_topic, read_topic
from tests.support.probe_service import ProbeLedger, ProbeSettings, probe_service
from tests.support.services import running, settings_for, until


@pytest.fixture
def flaky_settings(infra):
    return settings_for(ProbeSettings, infra, handler_max_attempts=3)


async def test_failing_handler_is_retried_then_dead_lettered_and_later_messages_flow(
    infra, publisher, events, flaky_settings
):
    ledger = ProbeLedger()
    poison = cloud_event(CUSTOMER_UPSERTED, {"name": "poison", "fail_times": 99}, subject="k1")
    recovers = cloud_event(CUSTOMER_UPSERTED, {"name": "recovers", "fail_times": 2}, subject="k1")
    healthy = cloud_event(CUSTOMER_UPSERTED, {"name": "healthy"}, subject="k1")
    async with running(lambda s: probe_service(s, ledger), flaky_settings):
        for event in (poison, recovers, healthy):
            await publisher.send(CUSTOMER_UPSERTED, event, key="k1")
        [letter] = await events.wait_for(
            dead_letter_topic(CUSTOMER_UPSERTED), lambda e: poison["id"] in e.get("original", "")
        )
        for _ in range(200):
            if "healthy" in ledger.done:
                break
            await asyncio.sleep(0.1)
    assert ledger.attempts["poison"] == 3
    assert letter["attempts"] == 3
    assert letter["error"]["message"] == "simulated failure 3"
    assert letter["consumer_group"] == f"flaky.{CUSTOMER_UPSERTED}"
    assert ledger.attempts["recovers"] == 3
    assert ledger.done == ["recovers", "healthy"]


async def test_processed_offsets_are_committed_so_a_restart_reads_nothing_twice(
    infra, publisher, flaky_settings
):
    ledger = ProbeLedger()
    first = cloud_event(CUSTOMER_UPSERTED, {"name": "first-run"}, subject="k2")
    second = cloud_event(CUSTOMER_UPSERTED, {"name": "second-run"}, subject="k2")
    async with running(lambda s: probe_service(s, ledger), flaky_settings):
        await publisher.send(CUSTOMER_UPSERTED, first, key="k2")
        for _ in range(200):
            if "first-run" in ledger.done:
                break
            await asyncio.sleep(0.1)
    async with running(lambda s: probe_service(s, ledger), flaky_settings):
        await publisher.send(CUSTOMER_UPSERTED, second, key="k2")
        for _ in range(200):
            if "second-run" in ledger.done:
                break
            await asyncio.sleep(0.1)
    assert ledger.attempts["first-run"] == 1
    assert ledger.attempts["second-run"] == 1


async def test_header_without_a_value_or_not_text_is_dead_lettered_naming_it_and_flow_goes_on(
    infra, flaky_settings
):
    topic = own_topic("headers")
    await create_topics(infra.kafka, topic, dead_letter_topic(topic))
    ledger = ProbeLedger()
    sent = [
        (cloud_event(topic, {"name": "no-value"}, subject="k"), ("x-trace", None)),
        (cloud_event(topic, {"name": "not-text"}, subject="k"), ("x-trace", b"\xff\xfesecret")),
        (cloud_event(topic, {"name": "after"}, subject="k"), ("x-trace", b"fine")),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all")
    await producer.start()
    try:
        async with running(lambda s: probe_service(s, ledger, topic), flaky_settings):
            for event, header in sent:
                headers = [("content-type", CONTENT_TYPE.encode()), header]
                await producer.send_and_wait(
                    topic, json.dumps(event).encode(), key=b"k", headers=headers
                )
            records = await read_topic(infra.kafka, dead_letter_topic(topic), count=2)
            await until(lambda: "after" in ledger.done, what="the message after the bad headers")
    finally:
        await producer.stop()
    letters = [DeadLetter.model_validate_json(record.value) for record in records]
    assert [json.loads(letter.original)["id"] for letter in letters] == [
        sent[0][0]["id"],
        sent[1][0]["id"],
    ]
    assert {letter.error.type for letter in letters} == {"InvalidHeaderError"}
    assert [letter.error.message for letter in letters] == [
        "header 'x-trace': has no value",
        "header 'x-trace': is not UTF-8 text",
    ]
    assert all("secret" not in record.value.decode(errors="replace") for record in records)
    assert ledger.done == ["after"]
    assert set(ledger.attempts) == {"after"}


async def test_every_line_logged_while_handling_an_event_carries_its_correlation_id(
    infra, publisher, flaky_settings, caplog
):
    caplog.set_level(logging.INFO)
    topic = own_topic("correlation")
    await create_topics(infra.kafka, topic, dead_letter_topic(topic))
    ledger = ProbeLedger()
    tagged = cloud_event(
        topic, {"name": "tagged", "fail_times": 1}, subject="k", correlationid="spring-sale"
    )
    by_subject = cloud_event(topic, {"name": "by-subject"}, subject="autumn", correlationid=None)
    untagged = cloud_event(topic, {"name": "untagged"}, subject=None, correlationid=None)
    async with running(lambda s: probe_service(s, ledger, topic), flaky_settings):
        for event in (tagged, by_subject, untagged):
            await publisher.send(topic, event, key="k")
        await until(lambda: "untagged" in ledger.done, what="all three probes handled")

    def ids_logged(probe: str) -> list[str | None]:
        return [
            getattr(record, "correlation_id", None)
            for record in caplog.records
            if record.name == "tests.support.probe_service" and record.args[0] == probe
        ]

    retried = [
        r
        for r in caplog.records
        if r.name.startswith("shared.messaging") and topic in r.getMessage()
    ]
    assert ids_logged("tagged") == ["spring-sale", "spring-sale"]
    assert [getattr(r, "correlation_id", None) for r in retried] == ["spring-sale"]
    assert ids_logged("by-subject") == ["autumn"]
    assert ids_logged("untagged") == [None]

    from shared.logs import log_formatter

    [tagged_line, *_] = [r for r in caplog.records if r.name == "tests.support.probe_service"]
    assert "spring-sale" in log_formatter("probe", "text").format(tagged_line)
    assert json.loads(log_formatter("probe", "json").format(tagged_line))["correlation_id"] == (
        "spring-sale"
    )
