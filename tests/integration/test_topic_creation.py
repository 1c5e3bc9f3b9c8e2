"""Topics are created with the configured replication factor, and a broker's refusal is an error.

Each test gets a broker of its own: the session's broker already has every topic, and a topic
that exists is never created again. The embedded stand-in (tansu) creates any topic it is
asked for: a replication factor above its one broker, an invalid name, no partitions. It
records the replication factor asked for (each partition lists that many replicas), and it
answers TOPIC_ALREADY_EXISTS for a name it has, so those are what these tests read back.
Apache Kafka's refusals (INVALID_REPLICATION_FACTOR on a single broker, INVALID_TOPIC_EXCEPTION)
are read from the answer it sends, built here as aiokafka parses it.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateTopicsResponse_v3

from shared.devstack.processes import ProcessGroup
from shared.events.topics import ALL_TOPICS, CAMPAIGN_PLANNED
from shared.messaging.broker import TopicCreationError, check_created, ensure_topics
from shared.runtime import Infrastructure, Service, health_app
from shared.settings import ServiceSettings
from tests.support.infrastructure import free_port
from tests.support.services import running, settings_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_kafka(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    processes = ProcessGroup(tmp_path)
    processes.start_broker("127.0.0.1", port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        processes.stop()


async def replicas_by_topic(bootstrap: str, topics: tuple[str, ...]) -> dict[str, set[int]]:
    """For each topic, how many replicas its partitions have (one value when they agree)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described: list[dict[str, Any]] = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {d["topic"]: {len(p["replicas"]) for p in d["partitions"]} for d in described}


class ProbeSettings(ServiceSettings):
    health_port: int = 0


def probe_service(settings: ProbeSettings) -> Service:
    infra = Infrastructure.build("topic-probe", settings)
    infra.finish()
    return Service(infra=infra, http_app=health_app(infra), http_port=settings.health_port)


async def test_service_start_up_creates_topics_with_the_configured_replication_factor(
    infra, fresh_kafka
):
    settings = settings_for(
        ProbeSettings,
        infra,
        kafka_bootstrap_servers=fresh_kafka,
        kafka_topic_replication_factor=3,
    )
    async with running(probe_service, settings):
        pass

    replicas = await replicas_by_topic(fresh_kafka, ALL_TOPICS)
    assert replicas == {topic: {3} for topic in ALL_TOPICS}


async def test_create_topics_command_uses_the_configured_replication_factor(fresh_kafka):
    environment = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": fresh_kafka,
        "KAFKA_TOPIC_PARTITIONS": "2",
        "KAFKA_TOPIC_REPLICATION_FACTOR": "3",
        "LOG_FORMAT": "text",
    }
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.messaging.create_topics", cwd=ROOT, env=environment
    )
    assert await command.wait() == 0

    replicas = await replicas_by_topic(fresh_kafka, ALL_TOPICS)
    assert replicas == {topic: {3} for topic in ALL_TOPICS}


async def test_topic_the_broker_already_has_is_not_an_error(fresh_kafka):
    # Named twice in one request, the second is answered TOPIC_ALREADY_EXISTS: the answer a
    # service gets when another created the topic between listing and creating it.
    created = await ensure_topics(fresh_kafka, topics=(CAMPAIGN_PLANNED, CAMPAIGN_PLANNED))

    assert created == [CAMPAIGN_PLANNED, CAMPAIGN_PLANNED]
    assert await ensure_topics(fresh_kafka, topics=(CAMPAIGN_PLANNED,)) == []


def test_topic_the_broker_refuses_raises_one_error_naming_the_topic_and_the_reason() -> None:
    # Apache Kafka's answer to replication factor 3 on a single broker, and to a bad name.
    answer = CreateTopicsResponse_v3(
        throttle_time_ms=0,
        topic_errors=[
            (CAMPAIGN_PLANNED, 38, "Replication factor: 3 larger than available brokers: 1."),
            ("campaign planned", 17, None),
            ("campaign.launched", 36, "Topic 'campaign.launched' already exists."),
        ],
    )

    with pytest.raises(TopicCreationError) as refused:
        check_created(answer)

    message = str(refused.value)
    assert (
        f"'{CAMPAIGN_PLANNED}': INVALID_REPLICATION_FACTOR "
        "(Replication factor: 3 larger than available brokers: 1.)"
    ) in message
    assert "'campaign planned': INVALID_TOPIC (" in message
    assert "campaign.launched" not in message
    assert refused.value.topics == [CAMPAIGN_PLANNED, "campaign planned"]


def test_ensure_topics_takes_everything_after_the_servers_by_keyword() -> None:
    _, *options = inspect.signature(ensure_topics).parameters.values()
    assert {option.kind for option in options} == {inspect.Parameter.KEYWORD_ONLY}
