"""A dead letter always reaches its topic, and publishing it never stalls the partition."""

from __future__ import annotations

import json

from shared.events.dead_letters import DeadLetter
from shared.events.topics import dead_letter_topic
from tests.support.kafka import (
    cloud_event,
    create_topics,
    delete_topics,
    own_topic,
    read_topic,
)
from tests.support.probe_service import ProbeLedger, ProbeSettings, probe_service
from tests.support.services import running, settings_for, until

# aiokafka's default max_request_size: above it the producer refuses a message outright.
BROKER_LIMIT = 1_048_576


async def test_letter_too_big_for_the_broker_is_trimmed_published_and_the_partition_moves_on(
    infra, publisher
):
    topic = own_topic("oversized")
    await create_topics(infra.kafka, topic, dead_letter_topic(topic))
    ledger = ProbeLedger()
    # Invalid (no name), so dead-lettered at once; 600 kB of escaped quotes as received,
    # twice that once escaped again inside the letter.
    huge = cloud_event(topic, {"padding": '"' * 300_000}, subject="k")
    received = json.dumps(huge)
    async with running(
        lambda s: probe_service(s, ledger, topic), settings_for(ProbeSettings, infra)
    ):
        await publisher.send(topic, huge, key="k")
        await publisher.send(topic, cloud_event(topic, {"name": "after"}, subject="k"), key="k")
        [record] = await read_topic(infra.kafka, dead_letter_topic(topic))
        await until(lambda: "after" in ledger.done, what="the message after the big one")
    letter = DeadLetter.model_validate_json(record.value)
    assert len(record.value) < BROKER_LIMIT
    assert letter.original_trimmed is True
    assert letter.original_size == len(received.encode())
    assert 0 < len(letter.original) < len(received)
    assert received.startswith(letter.original)
    assert letter.error.type == "ValidationError"
    assert record.key == b"k"


async def test_dead_letter_topic_deleted_under_a_running_service_is_created_again(infra, publisher):
    topic = own_topic("lost-dlq")
    dlq = dead_letter_topic(topic)
    await create_topics(infra.kafka, topic, dlq)
    ledger = ProbeLedger()
    first = cloud_event(topic, {"wrong": 1}, subject="k")
    second = cloud_event(topic, {"also": "wrong"}, subject="k")
    async with running(
        lambda s: probe_service(s, ledger, topic), settings_for(ProbeSettings, infra)
    ):
        await publisher.send(topic, first, key="k")
        await read_topic(infra.kafka, dlq)  # the service's producer now knows the topic
        await delete_topics(infra.kafka, dlq)
        await publisher.send(topic, second, key="k")
        await publisher.send(topic, cloud_event(topic, {"name": "after"}, subject="k"), key="k")
        # Handled in order: once the next message is done, the second letter is published.
        await until(lambda: "after" in ledger.done, what="the message after the second letter")
        [record] = await read_topic(infra.kafka, dlq)
    letter = DeadLetter.model_validate_json(record.value)
    assert json.loads(letter.original)["id"] == second["id"]
    assert letter.error.type == "ValidationError"
