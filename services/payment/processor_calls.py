"""Asking processors: charge a payment's latest attempt, refund it, and look either up.

Calls happen outside any transaction, under a lease on the attempt's key (or the refund's
id) renewed while the call is in flight, so no other replica asks about the same attempt
meanwhile. Each processor's circuit breaker hears how its calls went, and each call is
timed (``campaign_processor_call_duration_seconds``).

An exception an adapter did not expect (a body no processor sends, a bug) after sending a
charge or a refund is treated as an unknown outcome: the request may have moved money,
and only a lookup can tell.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from services.payment.domain.payment import Payment
from services.payment.domain.records import Refund
from services.payment.domain.routing import Router
from services.payment.metrics import timed_call
from services.payment.processors import (
    Charge,
    ChargeOutcome,
    OutcomeUnknownError,
    PaymentProcessor,
    ProcessorError,
    RefundOrder,
    RefundOutcome,
)
from services.payment.storage.leases import Leases, LeaseTerms
from shared.money import Money

log = logging.getLogger(__name__)

UNEXPECTED = "unexpected_answer"


@dataclass(frozen=True)
class ProcessorCalls:
    processors: Mapping[str, PaymentProcessor]
    router: Router
    leases: Leases
    terms: LeaseTerms

    def next_processor(self, payment: Payment) -> str | None:
        """The route's next processor its breaker lets through, after those already tried."""
        tried = {attempt.processor for attempt in payment.attempts}
        for processor in self.router.route(payment.payment_method):
            if processor not in tried and self.router.allows(processor):
                return processor
        return None

    def window(self, processor: str) -> timedelta | None:
        return self.processors[processor].idempotency_window

    async def charge(self, payment: Payment, token: str) -> ChargeOutcome | ProcessorError:
        """The payment's latest attempt sent to its processor."""
        attempt = payment.attempts[-1]
        async with self.leases.heartbeat(attempt.attempt_key, self.terms):
            with timed_call(attempt.processor, "charge") as call:
                try:
                    outcome = await self.processors[attempt.processor].charge(
                        charge_of(payment, token)
                    )
                    call.outcome = "answered"
                except ProcessorError as error:
                    self.router.record(attempt.processor, decided=False)
                    return error
                except Exception:
                    call.outcome = "unexpected"
                    log.exception(
                        "payment %s: %s answered unexpectedly", payment.id, payment.processor
                    )
                    self.router.record(attempt.processor, decided=False)
                    return OutcomeUnknownError(UNEXPECTED)
        self.router.record(attempt.processor, decided=True)
        return outcome

    async def lookup(self, payment: Payment) -> ChargeOutcome | None:
        """The processor's current state of the latest attempt; None if it never got it.
        Raises ``ProcessorError`` when it cannot be asked now."""
        attempt = payment.attempts[-1]
        with timed_call(attempt.processor, "lookup") as call:
            found = await self.processors[attempt.processor].lookup(charge_of(payment, ""))
            call.outcome = "answered"
        return found

    async def refund(self, payment: Payment, refund: Refund) -> RefundOutcome | ProcessorError:
        async with self.leases.heartbeat(refund.id, self.terms):
            with timed_call(payment.processor, "refund") as call:
                try:
                    outcome = await self.processors[payment.processor].refund(
                        order_of(payment, refund)
                    )
                    call.outcome = "answered"
                    return outcome
                except ProcessorError as error:
                    return error
                except Exception:
                    call.outcome = "unexpected"
                    log.exception(
                        "payment %s: refund %s answered unexpectedly", payment.id, refund.id
                    )
                    return OutcomeUnknownError(UNEXPECTED)

    async def lookup_refund(self, payment: Payment, refund: Refund) -> RefundOutcome | None:
        with timed_call(payment.processor, "lookup_refund") as call:
            found = await self.processors[payment.processor].lookup_refund(
                order_of(payment, refund)
            )
            call.outcome = "answered"
        return found


def charge_of(payment: Payment, token: str) -> Charge:
    attempt = payment.attempts[-1]
    return Charge(
        payment_id=payment.id,
        amount=payment.money,
        payment_method=payment.payment_method,
        payment_token=token,
        campaign_id=payment.campaign_id,
        customer_id=payment.customer_id,
        attempt_key=attempt.attempt_key,
    )


def order_of(payment: Payment, refund: Refund) -> RefundOrder:
    return RefundOrder(
        refund_id=refund.id,
        payment_id=payment.id,
        processor_transaction_id=payment.processor_transaction_id or "",
        amount=Money.of(refund.amount, payment.currency),
        reason=refund.reason,
    )
