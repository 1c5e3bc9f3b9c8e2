"""Whole topics read without a consumer group: what ``campaignctl dlq`` lists, and what the
tests read to count what was published.

A consumer's metadata right after ``start()`` holds only what the bootstrap answer named
(aiokafka bootstraps with an empty topic list, which on Apache Kafka's metadata request
version 1 and later names no topic), and ``AIOKafkaConsumer.topics()`` fills a copy of its
own: ``partitions_for_topic`` can answer None for a topic full of records. So the partitions
come from the admin client's description of the topics, and a topic the broker does not
describe is an error, never an empty read.

A freshly assigned partition is also reset by the consumer itself, in a task of its own, to
its ``auto_offset_reset`` end; aiokafka applies that answer to a partition still awaiting any
reset, so a ``latest`` answer landing after ``seek_to_beginning`` moved the reader to the end
and it read nothing. The reader's own reset is ``earliest``: both resets agree, in any order.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import for_code
from faststream.security import BaseSecurity

from shared.messaging.broker import admin_client
from shared.messaging.security import client_options

type Record = ConsumerRecord[bytes, bytes]


async def records_up_to_now(
    bootstrap_servers: str,
    topics: Sequence[str],
    *,
    client_id: str = "topic-reader",
    security: BaseSecurity | None = None,
) -> list[Record]:
    """Every record ``topics`` hold, from each partition's first offset to at least the end
    offset taken once the read began, in (topic, partition, offset) order. Each topic must
    exist.

    Records past that end are kept, not cut: the embedded broker answers a partition's end
    with the offset after its last record *batch*'s first record, so records a producer sent
    in one batch lie past the end it gives, and cutting there lost them."""
    if not topics:
        return []
    partitions = await topic_partitions(bootstrap_servers, topics, security)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=client_id,
        **client_options(security),
    )
    try:
        await consumer.start()
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[Record] = []
        while unread := [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(*unread, timeout_ms=1000)
            found += [r for records in batches.values() for r in records]
        return sorted(found, key=lambda r: (r.topic, r.partition, r.offset))
    finally:
        await consumer.stop()


async def topic_partitions(
    bootstrap_servers: str, topics: Sequence[str], security: BaseSecurity | None = None
) -> list[TopicPartition]:
    """Every partition of ``topics``, as the broker describes them now."""
    async with admin_client(bootstrap_servers, security) as admin:
        described = await admin.describe_topics(list(topics))
    partitions: list[TopicPartition] = []
    for topic in described:
        if topic["error_code"]:
            raise for_code(topic["error_code"])(f"topic {topic['topic']}")
        partitions += [TopicPartition(topic["topic"], p["partition"]) for p in topic["partitions"]]
    return sorted(partitions)
