"""Reconciliation: settling what no processor answer has decided yet.

A payment stays undecided when its processor call ended without a decision (a timeout after
sending, a 5xx, the process dying mid-call), when the processor has not decided either (a
crypto charge awaiting network confirmation), or when its process died before the first
attempt began. A refund stays pending when the processor's answer was lost. Each round
looks at every such payment (``Settlement`` asks the processor and applies what it says)
and resumes the ones left before any attempt.

Each payment is handled on its own: an error on one is recorded on it (``reconciliation``:
failures, last error, next try) and retried with backoff, the round moves on, and the
payments left stuck are counted and logged. No payment stays ``processing`` forever: past
``limit`` it is failed with ``reconciliation_timeout`` and flagged, because the processor
may still take the money and only a person can settle that with the customer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.payment.changes import PaymentChanges
from services.payment.domain.payment import Payment
from services.payment.metrics import observe_reconciliation
from services.payment.settlement import Settlement
from services.payment.storage.payments import Backoff, Payments
from services.payment.storage.unflushed_events import UnflushedEvents
from shared.events.payments import PaymentStatus
from shared.retry import Backoff as BackoffPolicy
from shared.storage.mongo import stored_now

log = logging.getLogger(__name__)

RECONCILIATION = "reconciliation"  # the actor of every change this job makes
P = PaymentStatus


@dataclass(frozen=True)
class ReconciliationPolicy:
    interval_seconds: float
    after: timedelta  # how long an unanswered attempt or refund is left before asking
    limit: timedelta
    retry: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(first=30, cap=3600))


def processing_since(payment: Payment) -> datetime:
    """When the payment last became ``processing``; after a review, that is the approval."""
    return next(
        (c.at for c in reversed(payment.status_history) if c.to is P.PROCESSING),
        payment.created_at,
    )


class Reconciler:
    """Settles, resumes or times out what is undecided; one round per ``interval``."""

    def __init__(
        self,
        changes: PaymentChanges,
        settlement: Settlement,
        payments: Payments,
        policy: ReconciliationPolicy,
        unflushed: UnflushedEvents,
    ) -> None:
        self._unflushed = unflushed
        self._changes = changes
        self._settlement = settlement
        self._payments = payments
        self._policy = policy

    async def run_forever(self) -> None:
        """The background job; a round that cannot even list its payments is retried."""
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
        changed, stuck = 0, 0
        if inserted := await self._unflushed.flush(now, self._policy.after):
            log.info("reconciliation put %d events of payments into the outbox", inserted)
        unsettled = await self._payments.unsettled()
        for payment_id, backoff in unsettled:
            if backoff is not None and backoff.next_at > now:
                stuck += 1
                continue
            try:
                if await self._reconcile(payment_id, now):
                    changed += 1
                    log.info("payment %s changed by reconciliation", payment_id)
            except Exception as error:
                stuck += 1
                await self._back_off(payment_id, error, backoff, now)
            else:
                if backoff is not None:
                    await self._payments.clear_failures(payment_id)
        if stuck:
            log.warning("reconciliation: %d payment(s) stuck, retried with backoff", stuck)
        observe_reconciliation(backlog=len(unsettled), stuck=stuck)
        return changed

    async def _reconcile(self, payment_id: str, now: datetime) -> bool:
        payment = await self._payments.get(payment_id)
        if payment is None:
            return False
        revision = payment.revision
        if payment.status is P.PENDING or (payment.status is P.PROCESSING and not payment.attempts):
            payment = await self._changes.resume(payment_id)
        payment = await self._settlement.settle(
            payment, now, actor=RECONCILIATION, wait=self._policy.after, resend=True
        )
        if payment.status is P.PROCESSING and processing_since(payment) <= now - self._policy.limit:
            payment = await self._changes.time_out(payment_id)
            log.warning(
                "payment %s still processing after %s: failed and flagged",
                payment.id,
                self._policy.limit,
            )
        return payment.revision != revision

    async def _back_off(
        self, payment_id: str, error: Exception, backoff: Backoff | None, now: datetime
    ) -> None:
        failures = (backoff.failures if backoff else 0) + 1
        wait = timedelta(seconds=self._policy.retry.delay(failures))
        log.exception("payment %s could not be reconciled (failure %d)", payment_id, failures)
        try:
            await self._payments.record_failure(
                payment_id,
                f"{type(error).__name__}: {error}"[:500],
                Backoff(failures, now + wait),
                now,
            )
        except Exception:
            log.exception("payment %s: could not record the failure either", payment_id)
