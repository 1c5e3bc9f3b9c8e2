"""The broker's raw produce -> consume ceiling, measured in the same run as the pipeline."""

from __future__ import annotations

import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

PAYLOAD = b"x" * 600  # about the size of a payment event


async def produce_consume(
    bootstrap: str, messages: int, payload: bytes = PAYLOAD
) -> dict[str, float]:
    topic = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 3, 1)])
    await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    try:
        started = time.perf_counter()
        for i in range(messages):
            await producer.send(topic, payload, key=str(i % 64).encode())
        await producer.flush()
        produced = time.perf_counter()
        received = 0
        while received < messages:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            received += sum(len(b) for b in batches.values())
        consumed = time.perf_counter()
    finally:
        await producer.stop()
        await consumer.stop()
    return {
        "produce_per_s": messages / (produced - started),
        "end_to_end_per_s": messages / (consumed - started),
    }
