"""campaignctl dlq against the real broker: letters listed, shown, and re-driven."""

from __future__ import annotations

import json

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.events.dead_letters import DeadLetter, DeadLetterError
from shared.events.envelope import CONTENT_TYPE, utc_now
from shared.events.topics import dead_letter_topic
from tests.support.cli import campaignctl
from tests.support.kafka import cloud_event, create_topics, own_topic, read_topic
from tests.support.probe_service import ProbeLedger, ProbeSettings, probe_service
from tests.support.services import running, settings_for, until


async def test_letter_replayed_once_its_cause_is_fixed_is_applied(infra, publisher):
    topic = own_topic("replay")
    dlq = dead_letter_topic(topic)
    await create_topics(infra.kafka, topic, dlq)
    ledger = ProbeLedger(broken={"needs-fix"})
    event = cloud_event(topic, {"name": "needs-fix"}, subject="replay-key")
    settings = settings_for(ProbeSettings, infra, handler_max_attempts=2)
    async with running(lambda s: probe_service(s, ledger, topic), settings):
        await publisher.send(topic, event, key="replay-key")
        [record] = await read_topic(infra.kafka, dlq)
        where = (str(record.partition), str(record.offset))
        listed = await campaignctl(infra, "dlq", "list", "--topic", topic)
        shown = await campaignctl(infra, "dlq", "show", dlq, *where)
        ledger.broken.clear()  # the fix is deployed
        replayed = await campaignctl(
            infra, "dlq", "replay", dlq, "--partition", where[0], "--offset", where[1]
        )
        await until(lambda: ledger.done == ["needs-fix"], what="the replayed event handled")
    assert listed.exit_code == 0, listed.output
    [line] = listed.stdout.strip().splitlines()
    for part in (dlq, *where, topic, "replay-key", "RuntimeError", "simulated failure 2"):
        assert part in line
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["original"] == json.dumps(event)
    assert replayed.exit_code == 0, replayed.output
    assert f"replayed 1 letter(s) from {dlq}" in replayed.stdout
    assert ledger.attempts["needs-fix"] == 3
    [first, again] = await read_topic(infra.kafka, topic, count=2)
    assert (again.key, again.value) == (first.key, first.value)
    assert ("content-type", CONTENT_TYPE.encode()) in again.headers


async def test_replay_refuses_a_trimmed_letter_and_sends_nothing(infra, publisher):
    topic = own_topic("trimmed")
    dlq = dead_letter_topic(topic)
    await create_topics(infra.kafka, topic, dlq)
    letter = DeadLetter(
        topic=topic,
        partition=0,
        offset=7,
        key="k",
        consumer_group=f"flaky.{topic}",
        attempts=1,
        failed_at=utc_now(),
        error=DeadLetterError(type="ValidationError", message="1 validation error"),
        original='{"specversion": "1.0", "id": "cut short',
        original_trimmed=True,
        original_size=2_000_000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(dlq, letter.model_dump_json().encode(), key=b"k")
    finally:
        await producer.stop()

    result = await campaignctl(infra, "dlq", "replay", topic, "--all")

    assert result.exit_code == 1
    assert f"{dlq} 0 0: not replayed: trimmed to fit the broker" in result.stderr
    assert "replayed 0 letter(s)" in result.stdout
    assert await records_held(infra.kafka, topic) == 0


async def records_held(kafka: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, 0)])
    finally:
        await consumer.stop()
    return sum(ends.values())
