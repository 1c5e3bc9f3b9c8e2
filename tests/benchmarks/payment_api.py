"""The payment API under load: throughput, POST latency and the service's own share of it.

The payment service runs as its own process, as ``make up`` runs it, once with the sandbox
processors answering at once and once with a simulated 50 ms round trip. Against each:
closed-loop clients (1, 8, 32), then open loops: at half what 8 clients reached, and at
100 payments per second whatever the answers. "Overhead" is the latency less the configured
processor latency for each processor call the payment made: what the service, its database
and its broker add.

Risk is scored in full on every payment, but nothing is held or blocked (see
``payment_load.SERVICE_ENV``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from shared.devstack.stack import LocalStack, StackAddresses
from shared.storage.mongo import connect, service_database
from tests.benchmarks.figures import peak_rss_mib, percentile, spread_line
from tests.benchmarks.payment_costs import CommandMeter, CpuMeter, infrastructure_processes
from tests.benchmarks.payment_load import (
    SERVICE_ENV,
    PaymentRequests,
    Sample,
    closed_loop,
    open_loop,
    payment_client,
)
from tests.benchmarks.payment_phases import breakdown_line
from tests.support.infrastructure import TestInfrastructure, free_port

PROCESSOR_LATENCIES = (0.0, 0.05)
AIM_P99_MS = 50


@dataclass(frozen=True)
class Run:
    label: str
    samples: list[Sample]
    elapsed: float
    stored_before: int  # the embedded database's costs grow with the collection


def outcome(sample: Sample) -> str:
    names = {201: "completed", 402: "declined", 202: "held"}
    if sample.status_code in names:
        return names[sample.status_code]
    if sample.status_code == 0:
        return f"no answer ({sample.error})"
    return f"HTTP {sample.status_code} {sample.error or ''}".strip()


def outcome_counts(samples: list[Sample]) -> str:
    counts = Counter(outcome(s) for s in samples)
    return ", ".join(f"{count} {name}" for name, count in counts.most_common())


def created(samples: list[Sample]) -> int:
    return sum(s.payment is not None for s in samples)


def print_run(run: Run, processor_latency: float, cpu: CpuMeter, commands: CommandMeter) -> None:
    samples = run.samples
    print(
        f"{run.label}: {len(samples) / run.elapsed:.1f} payments/s over {run.elapsed:.1f} s "
        f"({outcome_counts(samples)}; {run.stored_before:,} payments stored before)"
    )
    print("  " + spread_line("POST latency", [s.latency for s in samples]))
    overhead = [s.latency - processor_latency * s.processor_calls for s in samples]
    print("  " + spread_line("service overhead", overhead))
    print("  " + cpu.line(len(samples), run.elapsed))
    print("  " + commands.line(created(samples)))


async def measure(
    url: str, processor_latency: float, cpu: CpuMeter, args: argparse.Namespace
) -> list[Run]:
    """Closed loops at 1, 8 and 32 clients, then open loops at half what 8 clients reached
    (a load the service keeps up with) and at the target rate."""
    requests = PaymentRequests(seed=int(processor_latency * 1000) + 1)
    seconds = args.payment_seconds
    runs: list[Run] = []
    async with payment_client(url) as http:
        commands = CommandMeter(http)
        warm_up, _ = await closed_loop(http, requests, clients=8, seconds=3)  # not reported
        stored = created(warm_up)
        for clients, duration in ((1, seconds / 2), (8, seconds), (32, seconds)):
            cpu.start()
            await commands.start()
            samples, elapsed = await closed_loop(http, requests, clients=clients, seconds=duration)
            cpu.stop()
            await commands.stop()
            runs.append(Run(f"{clients} concurrent clients", samples, elapsed, stored))
            print_run(runs[-1], processor_latency, cpu, commands)
            stored += created(samples)
        capacity = len(runs[1].samples) / runs[1].elapsed
        for rate in (max(1.0, round(capacity / 2)), args.payment_rate):
            cpu.start()
            await commands.start()
            samples, sent_per_s, elapsed = await open_loop(
                http, requests, rate=rate, seconds=args.payment_rate_seconds
            )
            cpu.stop()
            await commands.stop()
            label = f"open loop at {rate:.0f}/s (sent at {sent_per_s:.1f}/s)"
            runs.append(Run(label, samples, elapsed, stored))
            print_run(runs[-1], processor_latency, cpu, commands)
            stored += created(samples)
    print(aim_line(runs[-1], args.payment_rate, processor_latency))
    return runs


def aim_line(run: Run, rate: float, processor_latency: float) -> str:
    """The issue's aim: p99 service overhead under 50 ms while keeping up with ``rate``."""
    answered = len(run.samples) / run.elapsed
    overhead = [s.latency - processor_latency * s.processor_calls for s in run.samples]
    p99 = percentile(overhead, 99) * 1000
    met = answered >= 0.95 * rate and p99 < AIM_P99_MS
    return (
        f"aim, p99 overhead under {AIM_P99_MS} ms at {rate:.0f} payments/s: "
        f"{'met' if met else 'not met'} (answered {answered:.1f}/s, p99 overhead {p99:.0f} ms)"
    )


async def stored_payments(mongodb_url: str, db_prefix: str) -> int:
    client = connect(mongodb_url, app_name="bench-payment-count")
    try:
        return await service_database(client, "payment", db_prefix)["payments"].count_documents({})
    finally:
        await client.close()


def against_processor_latency(
    infra: TestInfrastructure, log_dir: Path, processor_latency: float, args: argparse.Namespace
) -> None:
    # A database of its own per latency, so both start from the same empty collection.
    db_prefix = f"{infra.db_prefix}lat{processor_latency * 1000:.0f}_"
    env = (
        dict(os.environ)
        | {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "MONGODB_URL": infra.mongodb,
            "MONGODB_DB_PREFIX": db_prefix,
            "PAYMENT_API_PORT": str(free_port()),
            "PAYMENT_PROCESSOR_LATENCY_SECONDS": str(processor_latency),
            "LOG_LEVEL": "WARNING",
        }
        | SERVICE_ENV
    )
    stack = LocalStack(StackAddresses.from_env(env), log_dir)
    stack.start_services(("payment",))
    try:
        stack.wait_ready(("payment",))
        pid = stack.processes.processes["payment"].pid
        pids = {"payment": pid, **infrastructure_processes(), "bench clients": os.getpid()}
        print(f"\npayment API, sandbox processors at {processor_latency * 1000:.0f} ms")
        url = stack.addresses.http_url("payment")
        runs = asyncio.run(measure(url, processor_latency, CpuMeter(pids), args))
        print("where a payment's time goes, mean ms:")
        for run in (runs[0], *runs[-2:]):
            print(f"  {run.label}: {breakdown_line(run.samples, processor_latency)}")
        stored = asyncio.run(stored_payments(infra.mongodb, db_prefix))
        print(f"payments stored at the end: {stored:,}")
        print(f"peak memory payment service process: {peak_rss_mib(pid):.0f} MiB")
    finally:
        stack.stop()


def payment_api(infra: TestInfrastructure, log_dir: Path, args: argparse.Namespace) -> None:
    print(
        "\npayment API benchmark (payment service as its own process, one transaction "
        "at a time as in local mode, LOG_LEVEL=WARNING)"
    )
    for processor_latency in PROCESSOR_LATENCIES:
        against_processor_latency(infra, log_dir, processor_latency, args)
