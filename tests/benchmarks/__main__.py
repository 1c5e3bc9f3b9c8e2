"""``make bench``: the payment pipeline next to the broker's raw ceiling, on one infrastructure,
the payment API under load, email send throughput to the local SMTP sink, the customer sync
(100,000 ``customer.upserted`` from publish to stored), then the segmentation figures
(the chunked reader on MongoDB, quality, the engine at 1M and 10M generated customers),
then the optimiser's simulation (no infrastructure). Name parts to run only those:
``python -m tests.benchmarks email``.

Infrastructure is found as the tests find it: KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL, else
testcontainers, else the local stand-ins. The payment and analytics services run as their
own processes, exactly as ``make up`` runs them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
from pathlib import Path

from shared.devstack.stack import LocalStack, StackAddresses
from tests.benchmarks.analytics_burst import analytics_burst
from tests.benchmarks.broker_ceiling import produce_consume
from tests.benchmarks.customer_sync import customer_sync
from tests.benchmarks.email_send import email_send
from tests.benchmarks.figures import latency_line, peak_rss_mib
from tests.benchmarks.launch_latency import launch_latency
from tests.benchmarks.optimiser import optimiser
from tests.benchmarks.optimiser_loop import VariantRules
from tests.benchmarks.payment_api import payment_api
from tests.benchmarks.payment_costs import CommandMeter, CpuMeter, infrastructure_processes
from tests.benchmarks.payment_load import SERVICE_ENV, payment_client
from tests.benchmarks.payment_pipeline import push_payments
from tests.benchmarks.segmentation import quality, read_step
from tests.benchmarks.segmentation_scale import segmentation_scale
from tests.support.infrastructure import TestInfrastructure, free_port, test_infrastructure

PARTS = (
    "pipeline",
    "payment-api",
    "email",
    "launch",
    "customer-sync",
    "segmentation",
    "optimiser",
)
INFRASTRUCTURE_PARTS = frozenset(PARTS) - {"optimiser"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("parts", nargs="*", choices=PARTS, help="default: all")
    parser.add_argument("--payments", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ceiling-messages", type=int, default=20_000)
    parser.add_argument("--payment-seconds", type=float, default=10.0)
    parser.add_argument("--payment-rate", type=float, default=100.0)
    parser.add_argument("--payment-rate-seconds", type=float, default=5.0)
    parser.add_argument("--email-messages", type=int, default=5_000)
    parser.add_argument("--email-concurrency", type=int, default=16)
    parser.add_argument("--email-dkim", action="store_true", help="sign every message")
    parser.add_argument("--sync-customers", type=int, default=100_000)
    parser.add_argument(
        "--segmentation-customers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1_000_000, 10_000_000],
        help="generated base sizes for the chunked engine, comma-separated",
    )
    parser.add_argument("--segmentation-chunk", type=int, default=10_000)
    parser.add_argument("--segmentation-read", type=int, default=5_000)
    parser.add_argument(
        "--launch-customers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[10_000, 100_000],
        help="customer base sizes for request -> first message, comma-separated",
    )
    parser.add_argument(
        "--launch-observe", type=float, default=30.0, help="seconds counted after the first"
    )
    parser.add_argument("--optimiser-seeds", type=int, default=24)
    parser.add_argument("--optimiser-cycles", type=int, default=16, help="the default length")
    parser.add_argument(
        "--optimiser-lengths",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[4, 8, 16, 32],
        help="campaign lengths in cycles for regret, comma-separated",
    )
    parser.add_argument(
        "--optimiser-min-conversions", type=int, default=VariantRules.min_conversions
    )
    parser.add_argument(
        "--optimiser-loss-threshold", type=float, default=VariantRules.loss_threshold
    )
    args = parser.parse_args()
    parts = set(args.parts or PARTS)
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}")
    if parts & INFRASTRUCTURE_PARTS:
        infrastructure_parts(parts, args)
    if "optimiser" in parts:
        rules = VariantRules(
            min_conversions=args.optimiser_min_conversions,
            loss_threshold=args.optimiser_loss_threshold,
        )
        optimiser(args.optimiser_seeds, args.optimiser_cycles, args.optimiser_lengths, rules)


def infrastructure_parts(parts: set[str], args: argparse.Namespace) -> None:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    with test_infrastructure(log_dir) as infra:
        print(f"infrastructure: {infra.description}")
        if "pipeline" in parts:
            pipeline(infra, log_dir, args)
        if "payment-api" in parts:
            payment_api(infra, log_dir, args)
        if "email" in parts:
            email_send(infra, log_dir, args.email_messages, args.email_concurrency, args.email_dkim)
        if "launch" in parts:
            launch_latency(infra, log_dir, args.launch_customers, args.launch_observe)
        if "customer-sync" in parts:
            customer_sync(infra, log_dir, args.sync_customers)
        if "segmentation" in parts:
            asyncio.run(
                read_step(infra.mongodb, infra.db_prefix, args.segmentation_read, infra.description)
            )
    if "segmentation" in parts:
        quality(customers=30_000)
        segmentation_scale(args.segmentation_customers, args.segmentation_chunk)


def pipeline(infra: TestInfrastructure, log_dir: Path, args: argparse.Namespace) -> None:
    env = (
        dict(os.environ)
        | {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "MONGODB_URL": infra.mongodb,
            "MONGODB_DB_PREFIX": infra.db_prefix,
            "PAYMENT_API_PORT": str(free_port()),
            "ANALYTICS_API_PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
        }
        | SERVICE_ENV
    )
    stack = LocalStack(StackAddresses.from_env(env), log_dir)
    stack.start_infrastructure()
    services = ("payment", "analytics")
    stack.start_services(services)
    try:
        stack.wait_ready(services)
        asyncio.run(report(stack, args))
    finally:
        stack.stop()


async def report(stack: LocalStack, args: argparse.Namespace) -> None:
    url = stack.addresses.http_url("payment")
    await push_payments(
        url, stack.addresses.kafka, payments=20, concurrency=4, campaign_id="warmup"
    )
    pids = {name: stack.processes.processes[name].pid for name in ("payment", "analytics")}
    cpu = CpuMeter(pids | infrastructure_processes())
    async with payment_client(url) as http:
        commands = CommandMeter(http)
        cpu.start()
        await commands.start()
        run = await push_payments(
            url,
            stack.addresses.kafka,
            payments=args.payments,
            concurrency=args.concurrency,
            campaign_id="bench",
        )
        cpu.stop()
        await commands.stop()
    completed = len(run.posted_at)
    if run.missing:
        print(f"revenue.recorded missing after 120 s for {len(run.missing)}: {run.missing[:5]}")
    print(f"\npayments: {args.payments} with {args.concurrency} concurrent clients")
    print(
        f"throughput: {completed / run.elapsed:.1f} payments/s ({run.failures} declined or failed)"
    )
    print(latency_line("POST /v1/payments", run.post_latency))
    print(latency_line("payment -> revenue.recorded", run.revenue_latency))
    print(cpu.line(completed, run.elapsed))
    print(commands.line(completed))
    for name in ("payment", "analytics"):
        process = stack.processes.processes[name]
        print(f"peak memory {name}: {peak_rss_mib(process.pid):.0f} MiB")
    burst = {"analytics": pids["analytics"]} | infrastructure_processes()
    print(await analytics_burst(stack.addresses.kafka, burst, args.payments * 4))
    ceiling = await produce_consume(stack.addresses.kafka, args.ceiling_messages)
    print(
        f"\nbroker ceiling ({args.ceiling_messages} x 600 B): "
        f"produce {ceiling['produce_per_s']:,.0f} msg/s, "
        f"produce->consume {ceiling['end_to_end_per_s']:,.0f} msg/s"
    )


if __name__ == "__main__":
    main()
