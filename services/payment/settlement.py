"""Settling a payment from what its processor says now: for reconciliation's rounds and for
the processors' webhooks, which only say where to look.

Nothing is taken from a message: the processor's current state of the attempt (or refund)
is fetched and applied to the payment as it is. Before asking, the caller takes the
attempt's lease, so a call still in flight is left to its live owner and two replicas
never ask about, or send again, the same attempt at once.

An attempt the processor never received is sent again under its own idempotency key, but
only within the processor's idempotency window: past it, a second send could charge or
refund twice, so the payment is flagged for a person instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.payment.changes import PaymentChanges
from services.payment.domain.payment import DECIDED_OUTCOMES, Payment
from services.payment.domain.records import AttemptOutcome, Refund
from services.payment.processor_calls import ProcessorCalls
from services.payment.processors import ProcessorError
from services.payment.storage.leases import Leases, LeaseTerms
from services.payment.storage.payments import Payments
from shared.events.payments import PaymentStatus
from shared.storage.mongo import stored_now

log = logging.getLogger(__name__)

RESEND_WINDOW_PASSED = "processor_idempotency_window_passed"


@dataclass(frozen=True)
class Settlement:
    changes: PaymentChanges
    calls: ProcessorCalls
    payments: Payments
    leases: Leases
    terms: LeaseTerms

    async def settle(
        self, payment: Payment, now: datetime, *, actor: str, wait: timedelta, resend: bool
    ) -> Payment:
        """The payment's undecided attempt and pending refunds, each as the processor says;
        ``wait`` leaves recent unanswered ones alone."""
        if payment.status is PaymentStatus.PROCESSING:
            payment = await self._settle_charge(payment, now, actor, wait, resend)
        for refund in payment.pending_refunds:
            if refund.created_at <= now - wait:
                payment = await self._settle_refund(payment, refund, now, actor)
        return payment

    async def _settle_charge(
        self, payment: Payment, now: datetime, actor: str, wait: timedelta, resend: bool
    ) -> Payment:
        last = payment.last_attempt
        if last is None or last.outcome in DECIDED_OUTCOMES:
            return payment
        if not last.in_flight and last.started_at > now - wait:
            return payment  # asked too recently
        if not await self.leases.take_over(last.attempt_key, self.terms, stored_now()):
            return payment  # its owner is still calling, or another replica is on it
        try:
            outcome = await self.calls.lookup(payment)
        except ProcessorError as error:
            log.warning("payment %s: %s lookup failed: %s", payment.id, last.processor, error.code)
            await self.leases.release(last.attempt_key, self.terms.owner)
            return payment
        if outcome is not None:
            if outcome.pending and last.outcome is AttemptOutcome.PENDING:
                await self.leases.release(last.attempt_key, self.terms.owner)
                return payment  # nothing new: still awaiting confirmation
            return await self.changes.record_charge(
                payment.id, last.attempt_key, outcome, actor=actor
            )
        if not resend or self._window_passed(last.processor, last.key_first_used_at, now):
            await self.leases.release(last.attempt_key, self.terms.owner)
            return await self._flagged_past_window(payment, resend)
        return await self._send_again(payment, last.attempt_key, actor)

    async def _send_again(self, payment: Payment, attempt_key: str, actor: str) -> Payment:
        """The processor does not know the attempt: the request never reached it, or (Stripe's
        search lags) it cannot find it yet. Its idempotency makes a resend within the window
        safe either way: an attempt it holds is answered, not repeated."""
        token = await self.payments.token_of(payment.id)
        restarted = await self.changes.restart_attempt(payment.id, attempt_key)
        if token is None or restarted is None:
            await self.leases.release(attempt_key, self.terms.owner)
            return restarted or payment
        result = await self.calls.charge(restarted, token)
        return await self.changes.record_charge(payment.id, attempt_key, result, actor=actor)

    async def _settle_refund(
        self, payment: Payment, refund: Refund, now: datetime, actor: str
    ) -> Payment:
        if not await self.leases.take_over(refund.id, self.terms, stored_now()):
            return payment
        if self._window_passed(payment.processor, refund.created_at, now):
            await self.leases.release(refund.id, self.terms.owner)
            return await self.changes.flag(payment.id, RESEND_WINDOW_PASSED)
        try:
            found = await self.calls.lookup_refund(payment, refund)
        except ProcessorError as error:
            log.warning(
                "payment %s: refund %s lookup failed: %s", payment.id, refund.id, error.code
            )
            await self.leases.release(refund.id, self.terms.owner)
            return payment
        result = found if found is not None else await self.calls.refund(payment, refund)
        return await self.changes.record_refund(payment.id, refund.id, result, actor=actor)

    def _window_passed(self, processor: str, first_used_at: datetime, now: datetime) -> bool:
        window = self.calls.window(processor)
        return window is not None and first_used_at <= now - window

    async def _flagged_past_window(self, payment: Payment, resend: bool) -> Payment:
        if not resend:
            return payment  # a webhook only looks; reconciliation decides to send again
        log.error(
            "payment %s: %s never received its attempt and the key's window has passed; "
            "not sending it again, flagged %s",
            payment.id,
            payment.processor,
            RESEND_WINDOW_PASSED,
        )
        return await self.changes.flag(payment.id, RESEND_WINDOW_PASSED)
