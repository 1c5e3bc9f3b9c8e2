"""Where a payment's time goes, read from outside the service.

The phases come from timestamps the service stores anyway (milliseconds): the payment's
``created_at`` (after the idempotency-key lookup, before risk), the ``payment.initiated``
outbox row (written inside the first transaction, after the risk queries), the move to
``processing`` (after that transaction commits), and the attempt's start and end (around
the attempt's own commit and the processor call). Under load each phase also holds the
time spent waiting: for the event loop, for the database, and, where transactions run one
at a time, for the write lock, taken before a transaction's first write.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping

from shared.events.topics import PAYMENT_INITIATED
from shared.storage.mongo import connect, service_database
from tests.benchmarks.payment_load import Sample, wall_seconds

PHASES = (
    "request in + key lookup",
    "risk queries + key claim + payment insert",
    "outbox row + commit",
    "attempt commit",
    "processor",
    "final commit + answer",
)


async def initiated_at(mongodb_url: str, db_prefix: str) -> dict[str, float]:
    """When each payment's ``payment.initiated`` row was written, by payment id."""
    client = connect(mongodb_url, app_name="bench-payment-phases")
    try:
        outbox = service_database(client, "payment", db_prefix)["outbox"]
        rows = outbox.find({"topic": PAYMENT_INITIATED}, {"value": 1, "created_at": 1})
        return {
            json.loads(row["value"])["data"]["payment_id"]: row["created_at"].timestamp()
            async for row in rows
        }
    finally:
        await client.close()


def phases_of(
    sample: Sample, processor_latency: float, emitted: Mapping[str, float]
) -> tuple[float, ...] | None:
    """One payment's phases in seconds, for a payment charged once; None otherwise."""
    payment = sample.payment
    if payment is None or sample.processor_calls != 1:
        return None
    attempt = payment["attempts"][0]
    charged = any(change["to"] == "processing" for change in payment["status_history"])
    if not charged or attempt.get("finished_at") is None or payment["id"] not in emitted:
        return None
    created = sample.at("created_at")
    assert created is not None
    started, finished = wall_seconds(attempt["started_at"]), wall_seconds(attempt["finished_at"])
    emit = emitted[payment["id"]]
    return (
        created - sample.sent,
        emit - created,
        started - emit,
        finished - started - processor_latency,
        processor_latency,
        sample.sent + sample.latency - finished,
    )


def breakdown_line(
    samples: list[Sample], processor_latency: float, emitted: Mapping[str, float]
) -> str:
    rows = [p for s in samples if (p := phases_of(s, processor_latency, emitted)) is not None]
    if not rows:
        return "no payment charged once to break down"
    means = [statistics.fmean(column) * 1000 for column in zip(*rows, strict=True)]
    parts = " | ".join(f"{name} {ms:.1f}" for name, ms in zip(PHASES, means, strict=True))
    return f"{parts} = {sum(means):.1f} ms (mean of n={len(rows)})"
