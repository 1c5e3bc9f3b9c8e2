"""Analytics on its own: payment.completed published at once, straight to the broker, and
the CPU analytics spends until every payment's revenue.recorded is out. Its CPU while idle
(its consumers polling, its periodic jobs) is measured first and reported apart, so the
cost per event is the service's own work on the events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from aiokafka import AIOKafkaProducer

from shared.events.topics import PAYMENT_COMPLETED
from tests.benchmarks.payment_costs import CpuMeter
from tests.benchmarks.payment_pipeline import PipelineRun, watch_revenue
from tests.support.factories import payment_completed
from tests.support.kafka import cloud_event

IDLE_SECONDS = 5.0
CAMPAIGNS = 8


async def analytics_burst(bootstrap: str, pids: dict[str, int], events: int) -> str:
    """``pids``: analytics' and any other process (the database) whose CPU to report."""
    analytics_pid = pids["analytics"]
    run, ready = PipelineRun(), asyncio.Event()
    watcher = asyncio.create_task(watch_revenue(bootstrap, run, ready))
    await ready.wait()
    idle = CpuMeter({"analytics": analytics_pid})
    idle.start()
    await asyncio.sleep(IDLE_SECONDS)
    idle.stop()
    payments = [payment_completed(f"burst-{i % CAMPAIGNS}") for i in range(events)]
    meter = CpuMeter(pids)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    meter.start()
    began = time.perf_counter()
    try:
        for payment in payments:
            cid = payment["campaign_id"]
            event = cloud_event(PAYMENT_COMPLETED, payment, subject=cid)
            await producer.send(PAYMENT_COMPLETED, json.dumps(event).encode(), key=cid.encode())
            run.posted_at[payment["payment_id"]] = began
        await producer.flush()
    finally:
        await producer.stop()
    deadline = began + 300
    while run.missing and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - began
    meter.stop()
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    assert idle.used is not None
    assert meter.used is not None
    idle_rate = idle.used["analytics"] / IDLE_SECONDS
    used = meter.used["analytics"]
    own = used - idle_rate * elapsed
    recorded = events - len(run.missing)
    return (
        f"analytics alone, {events} payment.completed published at once: {recorded} recorded "
        f"in {elapsed:.1f} s ({recorded / elapsed:.0f} events/s); analytics CPU "
        f"{used / events * 1000:.2f} ms per event, {own / events * 1000:.2f} ms above its idle "
        f"{idle_rate:.0%} of a core\n  {meter.line(events, elapsed, unit='event')}"
    )
