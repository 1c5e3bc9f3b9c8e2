"""The Kafka broker every service builds, and the topics it needs."""

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage

from shared.events.topics import ALL_TOPICS

log = logging.getLogger(__name__)


def build_broker(
    bootstrap_servers: str, *, client_id: str, idempotent_producer: bool = False
) -> KafkaBroker:
    """A broker whose producer waits for all in-sync replicas before a send counts.

    The idempotent producer stays a setting: Apache Kafka supports it, the embedded
    development broker does not.
    """
    return KafkaBroker(
        bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=idempotent_producer,
        graceful_timeout=30.0,
        decoder=decode_structured_json,
        # Topics are created once, with their partition count, before subscribers start.
        allow_auto_create_topics=False,
        logger=logging.getLogger(f"{client_id}.kafka"),
    )


async def decode_structured_json(
    msg: StreamMessage[Any], default: Callable[[StreamMessage[Any]], Awaitable[Any]]
) -> Any:
    """Decode any ``+json`` content type as JSON.

    CloudEvents' structured mode labels messages ``application/cloudevents+json``, which
    FastStream's default decoder would hand to handlers as raw bytes.
    """
    content_type = msg.content_type or ""
    if content_type.split(";")[0].strip().endswith("+json"):
        return json.loads(msg.body)
    return await default(msg)


async def ensure_topics(
    bootstrap_servers: str,
    topics: tuple[str, ...] = ALL_TOPICS,
    *,
    partitions: int = 3,
    replication_factor: int = 1,
) -> list[str]:
    """Create the topics that are missing; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="topic-setup")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(t, partitions, replication_factor) for t in missing]
                )
            except TopicAlreadyExistsError:
                log.info("topics created concurrently by another process")
        return missing
    finally:
        await admin.close()
