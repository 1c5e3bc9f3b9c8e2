"""The Kafka broker every service builds, and the topics it needs."""

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import NoError, TopicAlreadyExistsError, for_code
from aiokafka.protocol.api import Response
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from faststream.security import BaseSecurity

from shared.events.topics import ALL_TOPICS
from shared.messaging.security import client_options

log = logging.getLogger(__name__)

# How long stopping waits for in-flight messages; deployments give a stopping service longer
# (docker-compose.yml's stop_grace_period, the Kubernetes terminationGracePeriodSeconds).
GRACEFUL_TIMEOUT_SECONDS = 30.0


def build_broker(
    bootstrap_servers: str,
    *,
    client_id: str,
    idempotent_producer: bool = False,
    security: BaseSecurity | None = None,
) -> KafkaBroker:
    """A broker whose producer waits for all in-sync replicas before a send counts.

    The idempotent producer stays a setting: Apache Kafka supports it, the embedded
    development broker does not. ``security`` is TLS and SASL (``shared/messaging/security.py``).
    """
    return KafkaBroker(
        bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=idempotent_producer,
        security=security,
        graceful_timeout=GRACEFUL_TIMEOUT_SECONDS,
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


class TopicCreationError(RuntimeError):
    """The broker refused to create topics; the message names each one and Kafka's reason."""

    def __init__(self, refusals: dict[str, str]) -> None:
        self.topics = list(refusals)
        reasons = "; ".join(f"{topic!r}: {reason}" for topic, reason in refusals.items())
        super().__init__(f"Kafka refused to create topics: {reasons}")


# A topic the broker already has was created by another process between listing and creating.
ACCEPTED_ANSWERS = frozenset({NoError.errno, TopicAlreadyExistsError.errno})


def check_created(answer: Response) -> None:
    """Raise ``TopicCreationError`` for the topics a ``CreateTopicsResponse`` refused.

    The request as a whole succeeds whatever becomes of each topic: each carries its own
    error code (and, from version 1 of the response, the broker's own explanation).
    """
    refusals: dict[str, str] = {}
    for topic, code, *explanation in answer.topic_errors:
        if code in ACCEPTED_ANSWERS:
            continue
        error = for_code(code)
        refusals[topic] = f"{error.message} ({next(filter(None, explanation), error.description)})"
    if refusals:
        raise TopicCreationError(refusals)


@contextlib.asynccontextmanager
async def admin_client(
    bootstrap_servers: str, security: BaseSecurity | None = None
) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="topic-setup", **client_options(security)
    )
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def list_topics(bootstrap_servers: str, security: BaseSecurity | None = None) -> set[str]:
    """The topics the broker has now."""
    async with admin_client(bootstrap_servers, security) as admin:
        return set(await admin.list_topics())


async def ensure_topics(
    bootstrap_servers: str,
    *,
    topics: tuple[str, ...] = ALL_TOPICS,
    partitions: int = 3,
    replication_factor: int = 1,
    security: BaseSecurity | None = None,
) -> list[str]:
    """Create the topics that are missing; returns their names.

    Topics that exist are left as they are, whatever their partitions and replicas.
    """
    async with admin_client(bootstrap_servers, security) as admin:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            check_created(
                await admin.create_topics(
                    [NewTopic(t, partitions, replication_factor) for t in missing]
                )
            )
        return missing
