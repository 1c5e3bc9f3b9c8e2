"""Request to first message: how long a campaign takes from ``campaign.requested`` to the
first email a recipient's server accepts, at 10,000 and 100,000 customers.

Planner, segmenter, content and launcher run as their own processes (offline engines), as
``make up`` runs them; the customer base is stored directly in the segmenter's and the
launcher's databases first (importing it through the broker is the customer-sync
benchmark's subject, not this one's). The campaign sends at once, email only. A local
aiosmtpd server stands in for the recipients' mail servers and timestamps every message.
Printed: each stage's time from the request, the first message, then what the launcher
accepted over the next ``observe`` seconds (the send rate while targeting still runs), and
the launcher's peak memory. The whole wave is not awaited: at the email part's rate it
would take minutes at 100,000 and say nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiosmtpd.controller import Controller

from shared.cli.customer_base import generate_customer_base
from shared.devstack.stack import LocalStack, StackAddresses
from shared.events import topics
from shared.events.campaigns import CampaignRequested
from shared.events.envelope import CloudEvent, event_to_json
from shared.storage.mongo import connect, service_database
from tests.benchmarks.figures import peak_rss_mib
from tests.support.infrastructure import TestInfrastructure, free_port
from tests.support.kafka import Publisher

SERVICES = ("planner", "segmenter", "content", "launcher")
STAGES = (
    topics.CAMPAIGN_PLANNED,
    topics.CAMPAIGN_SEGMENTED,
    topics.CAMPAIGN_CONTENT_GENERATED,
    topics.CAMPAIGN_LAUNCHED,
)
SEED_BATCH = 1_000


@dataclass
class Arrivals:
    """Every message the stand-in mail server accepted, with when."""

    times: list[float] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.times.append(time.time())  # on the server's own thread and loop
        return "250 OK"

    async def first(self, timeout: float) -> float:
        """When the first message was accepted; the time is the server's own stamp, so how
        often this looks does not change the figure."""
        async with asyncio.timeout(timeout):
            while not self.times:
                await asyncio.sleep(0.05)
        return self.times[0]


async def seed(mongodb: str, prefix: str, count: int) -> float:
    """Store ``count`` customers in the segmenter's and the launcher's own collections."""
    started = time.perf_counter()
    client = connect(mongodb, app_name="bench-seed")
    now = datetime.now(UTC)
    segmenter = service_database(client, "segmenter", prefix)["customers"]
    launcher = service_database(client, "launcher", prefix)["customers"]
    base = generate_customer_base(count)
    for start in range(0, count, SEED_BATCH):
        batch = base[start : start + SEED_BATCH]
        await segmenter.insert_many(
            [c.model_dump(mode="python") | {"_id": c.customer_id, "as_of": now} for c in batch]
        )
        await launcher.insert_many(
            [
                {
                    "_id": c.customer_id,
                    "customer_id": c.customer_id,
                    "email": c.email,
                    "first_name": c.first_name,
                    "email_opt_in": c.email_opt_in,
                    "country": c.country,
                    "timezone": c.timezone,
                    "as_of": now,
                }
                for c in batch
            ]
        )
    await client.close()
    return time.perf_counter() - started


async def follow(kafka: str, campaign_id: str, seen: dict[str, float]) -> None:
    """Note when each stage's event of the campaign arrives, until cancelled."""
    consumer = AIOKafkaConsumer(
        *STAGES, bootstrap_servers=kafka, auto_offset_reset="latest", group_id=None
    )
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if record.key and record.key.decode() == campaign_id:
                        seen.setdefault(record.topic, time.time())
    finally:
        await consumer.stop()


def request(campaign_id: str) -> CloudEvent[CampaignRequested]:
    data = CampaignRequested.model_validate(
        {
            "campaign_id": campaign_id,
            "name": "Bench launch",
            "budget": {"amount": "20000.00", "currency": "USD"},
            "channels": ["email"],
            "product": {
                "sku": "SKU-BENCH",
                "name": "Bench headphones",
                "price": {"amount": "149.99", "currency": "USD"},
            },
            "send_in_local_windows": False,
        }
    )
    return CloudEvent[CampaignRequested](
        source="/clients/bench",
        type=topics.CAMPAIGN_REQUESTED,
        subject=campaign_id,
        correlationid=campaign_id,
        data=data,
    )


async def one_launch(
    stack: LocalStack, arrivals: Arrivals, prefix: str, count: int, observe: float
) -> None:
    print(f"\nrequest -> first message, {count:,} customers")
    seeded = await seed(stack.addresses.mongodb, prefix, count)
    print(f"  customers stored in segmenter and launcher databases in {seeded:.1f} s")
    campaign_id = f"bench-launch-{uuid.uuid4().hex[:6]}"
    seen: dict[str, float] = {}
    following = asyncio.create_task(follow(stack.addresses.kafka, campaign_id, seen))
    await asyncio.sleep(2)  # the follower is assigned its partitions before the request
    publisher = Publisher(stack.addresses.kafka)
    await publisher.start()
    arrivals.times.clear()
    sent_at = time.time()
    await publisher.send(
        topics.CAMPAIGN_REQUESTED, event_to_json(request(campaign_id)), campaign_id
    )
    await publisher.stop()
    first = await arrivals.first(timeout=3_600)
    await asyncio.sleep(observe)  # the measuring window after the first message
    accepted = sum(1 for at in arrivals.times if at <= first + observe)
    following.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await following
    for topic in STAGES:
        when = f"+{seen[topic] - sent_at:7.1f} s" if topic in seen else "   (later)"
        print(f"  {topic:<28} {when}")
    print(f"  first message accepted       +{first - sent_at:7.1f} s")
    print(
        f"  accepted in the next {observe:.0f} s      {accepted:,}"
        f" ({accepted / observe:,.0f} messages/s)"
    )
    launcher = stack.processes.processes["launcher"]
    print(f"  peak memory launcher: {peak_rss_mib(launcher.pid):.0f} MiB")


def launch_latency(
    infra: TestInfrastructure, log_dir: Path, sizes: list[int], observe: float
) -> None:
    arrivals = Arrivals()
    smtp_port = free_port()
    controller = Controller(arrivals, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        for count in sizes:
            prefix = f"{infra.db_prefix}launch{count}_"
            env = dict(os.environ) | {
                "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
                "MONGODB_URL": infra.mongodb,
                "MONGODB_DB_PREFIX": prefix,
                "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
                "PLANNER_ENGINE": "offline",
                "SEGMENTER_ENGINE": "offline",
                "CONTENT_ENGINE": "offline",
                "LAUNCHER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
                "LAUNCHER_AD_PLATFORM_URL": "http://127.0.0.1:9",  # email only: never called
                **{var: str(free_port()) for var in PORT_VARIABLES},
            }
            stack = LocalStack(StackAddresses.from_env(env), log_dir)
            stack.start_services(SERVICES)
            try:
                stack.wait_ready(SERVICES)
                asyncio.run(one_launch(stack, arrivals, prefix, count, observe))
            finally:
                stack.stop()
    finally:
        controller.stop()


PORT_VARIABLES = (
    "PLANNER_HEALTH_PORT",
    "SEGMENTER_HEALTH_PORT",
    "CONTENT_HEALTH_PORT",
    "LAUNCHER_API_PORT",
)
