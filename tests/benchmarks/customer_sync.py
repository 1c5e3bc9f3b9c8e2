"""Customer sync: ``customer.upserted`` from publish to stored, next to the broker's ceiling.

The segmenter and the launcher run as their own processes, as ``make up`` runs them, on an
empty database; ``count`` generated customers are published as a CRM sync would publish
them (one event each, keyed by customer), as fast as the producer takes them. Printed: the
publish rate, when each service's collection held every customer (customers/s from the
first publish), and, in the same run, the broker's raw produce -> consume ceiling for as
many messages of the same size, with the ratio of the segmenter's rate to it.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from shared.cli.customer_base import generate_customer_base
from shared.devstack.stack import LocalStack, StackAddresses
from shared.events import topics
from shared.events.customers import CustomerUpserted
from shared.events.envelope import CONTENT_TYPE, CloudEvent, event_to_json
from shared.storage.mongo import connect, service_database
from tests.benchmarks.broker_ceiling import produce_consume
from tests.support.infrastructure import TestInfrastructure, free_port

SERVICES = ("segmenter", "launcher")


def customer_sync(infra: TestInfrastructure, log_dir: Path, count: int) -> None:
    prefix = f"{infra.db_prefix}sync{count}_"
    env = dict(os.environ) | {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": infra.mongodb,
        "MONGODB_DB_PREFIX": prefix,
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "SEGMENTER_ENGINE": "offline",
        "SEGMENTER_HEALTH_PORT": str(free_port()),
        "LAUNCHER_API_PORT": str(free_port()),
        # No campaign runs: the launcher never sends email nor buys ads here.
        "LAUNCHER_SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
        "LAUNCHER_AD_PLATFORM_URL": "http://127.0.0.1:9",
    }
    stack = LocalStack(StackAddresses.from_env(env), log_dir)
    stack.start_services(SERVICES)
    try:
        stack.wait_ready(SERVICES)
        asyncio.run(report(stack, prefix, count))
    finally:
        stack.stop()


async def report(stack: LocalStack, prefix: str, count: int) -> None:
    kafka, mongodb = stack.addresses.kafka, stack.addresses.mongodb
    values = [
        (c.customer_id.encode(), event_to_json(_event(c))) for c in generate_customer_base(count)
    ]
    size = sum(len(v) for _, v in values) // count
    started = time.perf_counter()
    published = await publish(kafka, values)
    stored = await until_stored(mongodb, prefix, count, started)
    ceiling = await produce_consume(kafka, count, payload=b"x" * size)
    print(f"\ncustomer sync: {count:,} customer.upserted events of about {size} B")
    print(f"published in {published:.1f} s ({count / published:,.0f} customers/s)")
    for service, seconds in stored.items():
        print(f"stored by the {service}: {seconds:.1f} s ({count / seconds:,.0f} customers/s)")
    ratio = count / stored["segmenter"] / ceiling["end_to_end_per_s"]
    print(
        f"broker ceiling, same run ({count:,} x {size} B): "
        f"produce {ceiling['produce_per_s']:,.0f} msg/s, "
        f"produce->consume {ceiling['end_to_end_per_s']:,.0f} msg/s; "
        f"the segmenter's sync runs at {ratio:.1%} of it"
    )


def _event(customer: CustomerUpserted) -> CloudEvent[CustomerUpserted]:
    return CloudEvent[CustomerUpserted](
        source="/clients/bench-crm", type=topics.CUSTOMER_UPSERTED, subject=None, data=customer
    )


async def publish(kafka: str, values: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    try:
        headers = [("content-type", CONTENT_TYPE.encode())]
        for key, value in values:
            await producer.send(topics.CUSTOMER_UPSERTED, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def until_stored(
    mongodb: str, prefix: str, count: int, started: float, timeout: float = 3_600
) -> dict[str, float]:
    """Seconds from ``started`` until each service's collection held ``count`` customers."""
    client = connect(mongodb, app_name="bench-sync")
    collections = {name: service_database(client, name, prefix)["customers"] for name in SERVICES}
    stored: dict[str, float] = {}
    try:
        async with asyncio.timeout(timeout):
            while len(stored) < len(collections):
                for name, collection in collections.items():
                    if name not in stored and await collection.estimated_document_count() >= count:
                        stored[name] = time.perf_counter() - started
                await asyncio.sleep(0.2)
    finally:
        await client.close()
    return stored
