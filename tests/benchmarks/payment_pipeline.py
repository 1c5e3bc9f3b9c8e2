"""Payments through the payment API, and how long until analytics records their revenue."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from shared.events.topics import REVENUE_RECORDED
from tests.benchmarks.payment_load import PaymentRequests, payment_client


@dataclass
class PipelineRun:
    posted_at: dict[str, float] = field(default_factory=dict)
    arrived_at: dict[str, float] = field(default_factory=dict)
    post_latency: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    failures: int = 0

    @property
    def revenue_latency(self) -> list[float]:
        return [
            self.arrived_at[p] - posted
            for p, posted in self.posted_at.items()
            if p in self.arrived_at
        ]

    @property
    def missing(self) -> list[str]:
        return sorted(set(self.posted_at) - set(self.arrived_at))


async def watch_revenue(bootstrap: str, run: PipelineRun, ready: asyncio.Event) -> None:
    """Record when each payment's revenue.recorded arrives, until cancelled."""
    consumer = AIOKafkaConsumer(
        REVENUE_RECORDED, bootstrap_servers=bootstrap, auto_offset_reset="latest"
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        for partition in consumer.assignment():
            await consumer.seek_to_end(partition)
        ready.set()
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            arrived = time.perf_counter()
            for records in batches.values():
                for record in records:
                    payment_id = json.loads(record.value)["data"]["payment_id"]
                    run.arrived_at.setdefault(payment_id, arrived)
    finally:
        await consumer.stop()


async def push_payments(
    payment_url: str, bootstrap: str, *, payments: int, concurrency: int, campaign_id: str
) -> PipelineRun:
    run = PipelineRun()
    ready = asyncio.Event()
    watcher = asyncio.create_task(watch_revenue(bootstrap, run, ready))
    await ready.wait()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(payments):
        queue.put_nowait(i)
    requests = PaymentRequests(seed=payments)

    async def client() -> None:
        async with payment_client(payment_url) as http:
            while not queue.empty():
                queue.get_nowait()
                body, headers = requests.next()
                started = time.perf_counter()
                response = await http.post(
                    "/v1/payments", json=body | {"campaign_id": campaign_id}, headers=headers
                )
                run.post_latency.append(time.perf_counter() - started)
                if response.status_code != 201:
                    run.failures += 1
                    continue
                run.posted_at[response.json()["id"]] = started

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    run.elapsed = time.perf_counter() - began
    deadline = time.perf_counter() + 120
    while run.missing and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    return run
