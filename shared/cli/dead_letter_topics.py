"""Dead letters read straight from the ``*.dlq`` topics, and re-driven to where they failed.

Reading uses no consumer group: nothing is committed, so listing never takes a letter
from anyone. A replay publishes the letter's ``original`` back to its topic with its key
and the CloudEvents content type; consumers deduplicate by event id, so replaying
something already applied changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from shared.events.dead_letters import DeadLetter
from shared.events.envelope import CONTENT_TYPE
from shared.events.topics import dead_letter_topic
from shared.messaging.broker import list_topics
from shared.messaging.security import cluster_options, kafka_security
from shared.messaging.topic_reading import records_up_to_now, topic_partitions
from shared.settings import KafkaClientSettings

DLQ_SUFFIX = dead_letter_topic("")
CLIENT_ID = "campaignctl"


def dead_letter_topic_of(topic: str) -> str:
    """``orders.dlq`` as given, or the dead-letter topic of ``orders``."""
    return topic if topic.endswith(DLQ_SUFFIX) else dead_letter_topic(topic)


@dataclass(frozen=True)
class StoredLetter:
    """One record of a dead-letter topic; ``letter`` is None when it is not a DeadLetter."""

    topic: str
    partition: int
    offset: int
    letter: DeadLetter | None
    problem: str = ""

    @property
    def address(self) -> str:
        """What ``dlq show`` takes: topic, partition, offset."""
        return f"{self.topic} {self.partition} {self.offset}"

    @classmethod
    def parsed(cls, topic: str, partition: int, offset: int, value: bytes | None) -> StoredLetter:
        try:
            return cls(topic, partition, offset, DeadLetter.model_validate_json(value or b""))
        except ValidationError as error:
            return cls(
                topic, partition, offset, None, f"not a dead letter: {error.errors()[0]['msg']}"
            )


class NoSuchLetterError(LookupError):
    pass


async def read_letters(
    cluster: KafkaClientSettings, topics: Sequence[str] | None = None
) -> list[StoredLetter]:
    """Every letter on ``topics`` (default: every ``*.dlq`` topic) up to now, in order."""
    bootstrap, security = cluster.kafka_bootstrap_servers, kafka_security(cluster)
    existing = await list_topics(bootstrap, security)
    chosen = [t for t in topics or sorted(existing) if t.endswith(DLQ_SUFFIX) and t in existing]
    records = await records_up_to_now(bootstrap, chosen, client_id=CLIENT_ID, security=security)
    return [StoredLetter.parsed(r.topic, r.partition, r.offset, r.value) for r in records]


async def read_letter(
    cluster: KafkaClientSettings, topic: str, partition: int, offset: int
) -> StoredLetter:
    tp = TopicPartition(topic, partition)
    security = kafka_security(cluster)
    if topic not in await list_topics(cluster.kafka_bootstrap_servers, security) or tp not in (
        await topic_partitions(cluster.kafka_bootstrap_servers, [topic], security)
    ):
        raise NoSuchLetterError(f"{topic} has no partition {partition}")
    consumer = AIOKafkaConsumer(
        **cluster_options(cluster), group_id=None, enable_auto_commit=False, client_id=CLIENT_ID
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        if not 0 <= offset < (await consumer.end_offsets([tp]))[tp]:
            raise NoSuchLetterError(f"{topic} partition {partition} has no offset {offset}")
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(tp), timeout=30)
        return StoredLetter.parsed(topic, partition, record.offset, record.value)
    finally:
        await consumer.stop()


def refusal(stored: StoredLetter) -> str | None:
    """Why ``stored`` cannot be replayed, or None."""
    if stored.letter is None:
        return stored.problem
    if stored.letter.original_trimmed:
        size = stored.letter.original_size
        return (
            f"trimmed to fit the broker ({len(stored.letter.original.encode())} of {size} bytes "
            f"kept); the whole message is on {stored.letter.topic} partition "
            f"{stored.letter.partition} offset {stored.letter.offset}, while the topic keeps it"
        )
    return None


async def replay(cluster: KafkaClientSettings, letters: Iterable[DeadLetter]) -> int:
    """Publish each letter's original back to its topic; returns how many were sent."""
    producer = AIOKafkaProducer(**cluster_options(cluster), acks="all", client_id=CLIENT_ID)
    await producer.start()
    sent = 0
    try:
        for letter in letters:
            await producer.send_and_wait(
                letter.topic,
                letter.original.encode(),
                key=letter.key.encode() if letter.key is not None else None,
                headers=[("content-type", CONTENT_TYPE.encode())],
            )
            sent += 1
    finally:
        await producer.stop()
    return sent
