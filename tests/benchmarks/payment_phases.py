"""Where a payment's time goes, read from outside the service.

The phases come from timestamps the service stores anyway (milliseconds): the payment's
``created_at`` (taken as its one initiating transaction opens: after the idempotency-key
lookup and the amount-history reads), its first attempt's ``started_at`` (the same
moment, since the attempt begins in that transaction) and ``finished_at`` (once the
processor answered). So the attempt's span holds the initiating transaction's work and
commit (key claim, velocity counters, payment, attempt, lease and outbox rows) and the
processor call; the rest is recording the answer and replying. Under load each phase also
holds the time spent waiting: for the event loop, for the database, and, where
transactions run one at a time, for the write lock.
"""

from __future__ import annotations

import statistics

from tests.benchmarks.payment_load import Sample, wall_seconds

PHASES = (
    "request in + key lookup + amount history",
    "key claim + risk + payment + attempt + commit",
    "processor",
    "answer recorded + reply",
)


def phases_of(sample: Sample, processor_latency: float) -> tuple[float, ...] | None:
    """One payment's phases in seconds, for a payment charged once; None otherwise."""
    payment = sample.payment
    if payment is None or sample.processor_calls != 1 or len(payment["attempts"]) != 1:
        return None
    attempt = payment["attempts"][0]
    if attempt.get("finished_at") is None:
        return None
    created = sample.at("created_at")
    assert created is not None
    started, finished = wall_seconds(attempt["started_at"]), wall_seconds(attempt["finished_at"])
    return (
        created - sample.sent,
        finished - started - processor_latency,
        processor_latency,
        sample.sent + sample.latency - finished,
    )


def breakdown_line(samples: list[Sample], processor_latency: float) -> str:
    rows = [p for s in samples if (p := phases_of(s, processor_latency)) is not None]
    if not rows:
        return "no payment charged once to break down"
    means = [statistics.fmean(column) * 1000 for column in zip(*rows, strict=True)]
    parts = " | ".join(f"{name} {ms:.1f}" for name, ms in zip(PHASES, means, strict=True))
    return f"{parts} = {sum(means):.1f} ms (mean of n={len(rows)})"
