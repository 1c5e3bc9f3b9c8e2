"""Reconciliation: settling the payments that no processor answer has decided yet.

A payment stays ``processing`` when its processor call ended without a decision (a
timeout after sending, a 5xx, the process stopping mid-call) or when the processor has
not decided either (a crypto charge awaiting network confirmation). Each round asks the
processor about every such payment whose last attempt is at least ``after`` old, and
applies what it says (``Charging.settle_from_processor``, which sends an attempt the
processor never received again under its own idempotency key).

No payment stays ``processing`` forever: ``limit`` after it began processing it is failed
with reason ``reconciliation_timeout`` and flagged, because the processor may still take
the money (a crypto payment sent late) and only a person can settle that with the
customer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.payment.charging import Charging
from services.payment.domain import payment as domain
from services.payment.storage.payments import StaleRecordError
from shared.events.payments import AttemptOutcome, PaymentRecord, PaymentStatus
from shared.storage.mongo import stored_now

log = logging.getLogger(__name__)

RECONCILIATION = "reconciliation"  # the actor of every change this job makes
RECONCILIATION_TIMEOUT = "reconciliation_timeout"  # the failure reason and the flag
DECIDED = frozenset({AttemptOutcome.APPROVED, AttemptOutcome.DECLINED})


@dataclass(frozen=True)
class ReconciliationPolicy:
    interval_seconds: float
    after: timedelta
    # A call still in flight may just be slow: it is left to the request making it until
    # that request would have given up, so two callers never race on one attempt.
    in_flight_after: timedelta
    limit: timedelta


def processing_since(payment: PaymentRecord) -> datetime:
    """When the payment last became ``processing``; after a review, that is the approval."""
    return next(
        (c.at for c in reversed(payment.status_history) if c.to is PaymentStatus.PROCESSING),
        payment.created_at,
    )


def timed_out(payment: PaymentRecord, at: datetime) -> PaymentRecord:
    failed = domain.fail(payment, RECONCILIATION_TIMEOUT, at, actor=RECONCILIATION)
    return failed.model_copy(update={"flags": [*failed.flags, RECONCILIATION_TIMEOUT]})


class Reconciler:
    """Settles or times out the payments left ``processing``; one round per ``interval``."""

    def __init__(self, charging: Charging, policy: ReconciliationPolicy) -> None:
        self._charging = charging
        self._payments = charging.payments
        self._policy = policy

    async def run_forever(self) -> None:
        """The background job; a failed round is logged and retried on the next tick."""
        interval = self._policy.interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                changed = await self.run_once(stored_now())
            except Exception:
                log.exception("reconciliation round failed; retrying in %.0fs", interval)
            else:
                if changed:
                    log.info("reconciliation changed %d payments", changed)

    async def run_once(self, now: datetime) -> int:
        """One round as of ``now``; returns how many payments it changed."""
        youngest = now - min(self._policy.after, self._policy.limit)
        changed = 0
        for payment_id in await self._payments.processing_ids(created_before=youngest):
            try:
                changed += await self._reconcile(payment_id, now)
            except StaleRecordError:
                # A webhook or a request changed it meanwhile; the next round sees where it is.
                log.info("payment %s changed while being reconciled", payment_id)
        return changed

    async def _reconcile(self, payment_id: str, now: datetime) -> bool:
        payment = await self._payments.get(payment_id)
        if payment is None or payment.status is not PaymentStatus.PROCESSING:
            return False
        revision = payment.revision
        if self._due(payment, now):
            payment = await self._charging.settle_from_processor(payment_id, actor=RECONCILIATION)
        if (
            payment is not None
            and payment.status is PaymentStatus.PROCESSING
            and processing_since(payment) <= now - self._policy.limit
        ):
            payment = await self._charging.commit(timed_out(payment, stored_now()), announce=True)
            log.warning(
                "payment %s still processing after %s: failed and flagged %s",
                payment.id,
                self._policy.limit,
                RECONCILIATION_TIMEOUT,
            )
        return payment is not None and payment.revision != revision

    def _due(self, payment: PaymentRecord, now: datetime) -> bool:
        """Whether to ask the processor: the last attempt is undecided and old enough."""
        if not payment.attempts or payment.attempts[-1].outcome in DECIDED:
            return False
        last = payment.attempts[-1]
        wait = self._policy.in_flight_after if last.outcome is None else self._policy.after
        return last.started_at <= now - wait
