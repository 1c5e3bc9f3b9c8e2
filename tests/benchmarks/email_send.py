"""Email send throughput to the local SMTP sink, with ``LAUNCHER_SEND_RATE`` unset.

N email deliveries are scheduled, due at once, with their customers and content, straight
into the launcher's database; then the dispatcher runs as its own process (the launcher's
background job in a service, with its outbox relay) against the sink, also a process of its
own, as ``make up`` runs it. Throughput counts messages the sink accepted, from the first to
the last; a message's latency runs from its claim (written just before its SMTP transaction)
to the sink's receipt. CPU is read from ``/proc`` for each process once the dispatcher
answers its health check.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.devstack.processes import ProcessGroup, wait_until
from shared.storage.mongo import Document, connect, service_database
from tests.benchmarks.figures import latency_line, peak_rss_mib
from tests.benchmarks.payment_costs import CpuMeter, infrastructure_processes
from tests.support.email_launch import people, seed_campaign, until_settled
from tests.support.infrastructure import TestInfrastructure, free_port

DISPATCHER = [sys.executable, "-m", "tests.support.email_dispatcher_process"]
AIM_PER_SECOND = 500


def email_send(
    infra: TestInfrastructure, log_dir: Path, messages: int, concurrency: int, dkim: bool
) -> None:
    processes = ProcessGroup(log_dir)
    smtp_port, api_port = free_port(), free_port()
    mail = log_dir / "mail"
    processes.start_smtp_sink("127.0.0.1", smtp_port, free_port(), mail)
    try:
        started = time.monotonic()
        campaign = asyncio.run(seed(infra, messages))
        print(f"\nemail: {messages:,} deliveries seeded in {time.monotonic() - started:.1f} s")
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "MONGODB_URL": infra.mongodb,
            "MONGODB_DB_PREFIX": infra.db_prefix,
            "LAUNCHER_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "LAUNCHER_SEND_CONCURRENCY": str(concurrency),
            "LAUNCHER_API_PORT": str(api_port),
            "LOG_LEVEL": "WARNING",
        }
        if dkim:
            env["LAUNCHER_DKIM_KEY_FILE"] = str(dkim_key(log_dir))
        processes.start("dispatcher", DISPATCHER, env)
        wait_until(lambda: answers_health(api_port), 60, "the email dispatcher")
        pids = infrastructure_processes() | {
            "dispatcher": processes.processes["dispatcher"].pid,
            "sink": processes.processes["smtp"].pid,
        }
        meter = CpuMeter(pids)
        meter.start()
        # Counted from the sink's index, so that waiting puts no load on the database.
        wait_until(lambda: accepted(mail) >= messages, max(120, messages / 10), "the sends")
        meter.stop()
        stored = asyncio.run(settled(infra, campaign, messages))
        signed = ", DKIM-signed (2048-bit RSA)" if dkim else ""
        report(stored, mail, meter, f"{concurrency} connections{signed}", infra.description)
        for name in ("dispatcher", "smtp"):
            print(f"peak memory {name}: {peak_rss_mib(processes.processes[name].pid):.0f} MiB")
    finally:
        processes.stop()


async def seed(infra: TestInfrastructure, messages: int) -> str:
    client = connect(infra.mongodb, app_name="bench-email")
    try:
        db = service_database(client, "launcher", infra.db_prefix)
        return await seed_campaign(db, people(messages))
    finally:
        await client.close()


async def settled(infra: TestInfrastructure, campaign: str, messages: int) -> dict[str, Document]:
    client = connect(infra.mongodb, app_name="bench-email")
    try:
        db = service_database(client, "launcher", infra.db_prefix)
        return await until_settled(db, campaign, timeout=max(120, messages / 10))
    finally:
        await client.close()


def report(
    stored: dict[str, Document], mail: Path, meter: CpuMeter, how: str, infrastructure: str
) -> None:
    received = {}  # by customer: the seeded addresses are <customer id>@example.com
    for line in (mail / "index.jsonl").read_text().splitlines():
        kept = json.loads(line)
        customer_id = kept["rcpt_tos"][0].partition("@")[0]
        received[customer_id] = datetime.fromisoformat(kept["received_at"])
    times = sorted(received.values())
    seconds = (times[-1] - times[0]).total_seconds() if len(times) > 1 else float("nan")
    latencies = [
        (received[who] - delivery["claimed_at"]).total_seconds()
        for who, delivery in stored.items()
        if who in received
    ]
    outcomes = Counter(delivery["status"] for delivery in stored.values())
    rate = len(times) / seconds
    print(f"infrastructure: {infrastructure}; SMTP sink: aiosmtpd as a local process")
    print(
        f"email send: {len(times):,} accepted by the sink in {seconds:.1f} s: {rate:,.0f} "
        f"messages/s with {how}, LAUNCHER_SEND_RATE unset "
        f"(aim {AIM_PER_SECOND}/s: {'met' if rate >= AIM_PER_SECOND else 'not met'}); "
        f"ledger: {dict(outcomes)}"
    )
    print(latency_line("claim -> accepted by the sink", latencies))
    print(meter.line(len(times), seconds, unit="message"))


def dkim_key(directory: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def accepted(mail: Path) -> int:
    index = mail / "index.jsonl"
    return index.read_text().count("\n") if index.exists() else 0


def answers_health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False
