"""Per processor: how often it took the payments routed to it, what it charged, and how long
a payment took.

The payment events carry no latency of their own, so a payment's time is measured from its
``payment.initiated`` to its completion or failure: the processor's answer, with the routing
and any retries before it. A refunded payment's row may carry its refund's time rather than
its completion's, so only completed and failed payments are timed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.analytics.payment_lines import LineStatus, PaymentLine
from shared.money import Money

COMPLETED = frozenset({LineStatus.COMPLETED, LineStatus.PARTIALLY_REFUNDED, LineStatus.REFUNDED})
TIMED = frozenset({LineStatus.COMPLETED, LineStatus.FAILED})


@dataclass(frozen=True)
class ProcessorFigures:
    processor: str
    completed: int
    failed: int
    success_rate: float
    fees: Money
    mean_latency_seconds: float | None


@dataclass
class _Tally:
    completed: int = 0
    failed: int = 0
    fees: Decimal = Decimal(0)
    seconds: float = 0.0
    timed: int = 0

    @property
    def settled(self) -> int:
        return self.completed + self.failed


def processor_figures(
    lines: Iterable[PaymentLine], started: Mapping[str, datetime], currency: str
) -> list[ProcessorFigures]:
    """Fees are as charged, in ``currency`` only; the busiest processor first."""
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for line in lines:
        tally = tallies[line.processor]
        if line.status in COMPLETED:
            tally.completed += 1
            if line.fee is not None and line.fee.currency == currency:
                tally.fees += line.fee.amount
        elif line.status is LineStatus.FAILED:
            tally.failed += 1
        start = started.get(line.payment_id)
        if start is not None and line.status in TIMED and line.occurred_at >= start:
            tally.seconds += (line.occurred_at - start).total_seconds()
            tally.timed += 1
    ranked = sorted(
        tallies.items(), key=lambda item: (-item[1].completed - item[1].failed, item[0])
    )
    return [
        ProcessorFigures(
            processor=name,
            completed=tally.completed,
            failed=tally.failed,
            success_rate=round(tally.completed / tally.settled, 4) if tally.settled else 0.0,
            fees=Money.of(tally.fees, currency),
            mean_latency_seconds=round(tally.seconds / tally.timed, 3) if tally.timed else None,
        )
        for name, tally in ranked
    ]
