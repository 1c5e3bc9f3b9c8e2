"""The payment service's metrics (names and conventions in ``shared/metrics.py``).

Payments are counted from the events a committed transaction announced, each of which
says a payment reached a status: so a change retried after a write conflict counts once,
and a change that never committed not at all. ``processing`` has no event of its own and
is not counted; the processor calls it waits on are timed instead.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

from services.payment.domain.routing import Router
from shared.events.payments import (
    PaymentCompleted,
    PaymentEvent,
    PaymentFailed,
    PaymentInitiated,
    PaymentRefunded,
    PaymentReviewRequired,
    PaymentStatus,
)

PAYMENTS = Counter(
    "campaign_payments_total",
    "Payments that reached a status (pending, review, completed, failed, partially_refunded, "
    "refunded), by the processor that took them or, before one decided, the route's first.",
    ["status", "processor"],
)
PAYMENT_REQUESTS = Histogram(
    "campaign_payment_request_duration_seconds",
    "POST /v1/payments admitted, from its request to its answer (the processor call "
    "included), whatever the answer.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PROCESSOR_CALLS = Histogram(
    "campaign_processor_call_duration_seconds",
    "Calls to payment processors; outcome: answered (approved, declined or pending), "
    "error (no decision: unreachable, timed out, 5xx) or unexpected (an answer no "
    "processor sends).",
    ["processor", "operation", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BREAKER_OPEN = Gauge(
    "campaign_processor_breaker_open",
    "1 while a processor's circuit breaker is open in this replica (its payments go to the "
    "route's next processor), else 0.",
    ["processor"],
)
RECONCILIATION_BACKLOG = Gauge(
    "campaign_reconciliation_backlog_payments",
    "Payments the last reconciliation round found undecided or with a refund unanswered.",
)
RECONCILIATION_STUCK = Gauge(
    "campaign_reconciliation_stuck_payments",
    "Payments the last reconciliation round could not settle: failing, or waiting out the "
    "backoff after a failure.",
)
RECONCILIATION_ROUND = Gauge(
    "campaign_reconciliation_last_round_timestamp_seconds",
    "When the last reconciliation round finished (Unix time).",
)


def status_reached(event: PaymentEvent) -> PaymentStatus | None:
    match event:
        case PaymentInitiated():
            return PaymentStatus.PENDING
        case PaymentReviewRequired():
            return PaymentStatus.REVIEW
        case PaymentCompleted():
            return PaymentStatus.COMPLETED
        case PaymentFailed():
            return PaymentStatus.FAILED
        case PaymentRefunded(refunded_total=total, amount=amount) if total < amount:
            return PaymentStatus.PARTIALLY_REFUNDED
        case PaymentRefunded():
            return PaymentStatus.REFUNDED
    return None


def count_payments(events: Iterable[PaymentEvent]) -> None:
    """Count the statuses payment events announce, once they are stored for good: emitted
    by a committed transaction, or kept on the payment by its outcome's write."""
    for event in events:
        if status := status_reached(event):
            PAYMENTS.labels(status.value, event.processor).inc()


@dataclass
class ProcessorCall:
    """What the timed body says came of its call; an exception leaves ``error``."""

    outcome: Literal["answered", "error", "unexpected"] = "error"


@contextlib.contextmanager
def timed_call(processor: str, operation: str) -> Iterator[ProcessorCall]:
    call = ProcessorCall()
    started = time.perf_counter()
    try:
        yield call
    finally:
        elapsed = time.perf_counter() - started
        PROCESSOR_CALLS.labels(processor, operation, call.outcome).observe(elapsed)


def observe_reconciliation(backlog: int, stuck: int) -> None:
    RECONCILIATION_BACKLOG.set(backlog)
    RECONCILIATION_STUCK.set(stuck)
    RECONCILIATION_ROUND.set_to_current_time()


class Breakers:
    """Samples ``campaign_processor_breaker_open`` from the router at each scrape."""

    def __init__(self, router: Router, processors: Iterable[str]) -> None:
        self._router = router
        self._processors = sorted(processors)

    def __repr__(self) -> str:
        return "Breakers(payment)"

    async def __call__(self) -> None:
        resting = set(self._router.open_circuits())
        for processor in self._processors:
            BREAKER_OPEN.labels(processor).set(1 if processor in resting else 0)
