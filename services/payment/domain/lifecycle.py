"""The payment lifecycle: which status may follow which, and the record of every change.

    pending ──> processing ──> completed ──> partially_refunded ──> refunded
       │  │          │             └─────────────────────────────────^
       │  └> review ─┤ (approved)
       │        │    └──> failed
       └────────┴───────> failed   (fraud blocked, review declined, processors down)

Every transition appends to ``status_history`` (from, to, at, reason, actor); storage bumps
``revision`` on each write and refuses one made from a stale copy. Anything else is
refused with ``IllegalTransitionError`` and changes nothing. Processor calls are recorded
in ``attempts``; refunds in ``refunds``, never exceeding what was captured.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.payment.processors import ChargeOutcome, RefundOutcome
from shared.events.payments import (
    AttemptOutcome,
    PaymentRecord,
    PaymentStatus,
    ProcessorAttempt,
    Refund,
    RefundStatus,
    StatusChange,
)
from shared.money import Money

P = PaymentStatus
ALLOWED: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    P.PENDING: frozenset({P.PROCESSING, P.REVIEW, P.FAILED}),
    P.REVIEW: frozenset({P.PROCESSING, P.FAILED}),
    P.PROCESSING: frozenset({P.COMPLETED, P.FAILED}),
    P.COMPLETED: frozenset({P.PARTIALLY_REFUNDED, P.REFUNDED}),
    P.PARTIALLY_REFUNDED: frozenset({P.PARTIALLY_REFUNDED, P.REFUNDED}),
}
SETTLED = frozenset({P.COMPLETED, P.FAILED, P.PARTIALLY_REFUNDED, P.REFUNDED})
REFUNDABLE = frozenset({P.COMPLETED, P.PARTIALLY_REFUNDED})


class IllegalTransitionError(Exception):
    """A payment was asked to move to a status its current status cannot reach."""


class RefundAmountError(ValueError):
    """A refund amount the payment cannot give back: not positive, or more than is left."""


def _changed(payment: PaymentRecord, **changes: Any) -> PaymentRecord:
    return payment.model_copy(update=changes)


def check_transition(payment: PaymentRecord, to: PaymentStatus) -> None:
    if to not in ALLOWED.get(payment.status, frozenset()):
        raise IllegalTransitionError(
            f"payment {payment.id} is {payment.status.value} and cannot become {to.value}"
        )


def transition(
    payment: PaymentRecord,
    to: PaymentStatus,
    *,
    at: datetime,
    actor: str,
    reason: str | None = None,
    **changes: Any,
) -> PaymentRecord:
    check_transition(payment, to)
    change = StatusChange(from_status=payment.status, to=to, at=at, reason=reason, actor=actor)
    return _changed(payment, status=to, status_history=[*payment.status_history, change], **changes)


def created(payment: PaymentRecord, actor: str) -> PaymentRecord:
    """The payment with the first entry of its history: created as ``pending``."""
    change = StatusChange(from_status=None, to=payment.status, at=payment.created_at, actor=actor)
    return payment.model_copy(update={"status_history": [change]})


def begin_attempt(
    payment: PaymentRecord, processor: str, attempt_key: str, at: datetime
) -> PaymentRecord:
    attempt = ProcessorAttempt(processor=processor, attempt_key=attempt_key, started_at=at)
    return _changed(payment, processor=processor, attempts=[*payment.attempts, attempt])


def restart_attempt(payment: PaymentRecord, at: datetime) -> PaymentRecord:
    """The latest attempt made again under its own key: to the processor it is the same
    attempt, so its record starts over rather than a new one being added."""
    *earlier, last = payment.attempts
    again = last.model_copy(
        update={
            "started_at": at,
            "finished_at": None,
            "outcome": None,
            "error_code": None,
            "latency_ms": None,
        }
    )
    return _changed(payment, attempts=[*earlier, again])


def finish_attempt(
    payment: PaymentRecord,
    outcome: AttemptOutcome,
    at: datetime,
    *,
    reference: str | None = None,
    error_code: str | None = None,
) -> PaymentRecord:
    """Record how the payment's latest attempt ended."""
    *earlier, last = payment.attempts
    latency = (at - last.started_at).total_seconds() * 1000
    finished = last.model_copy(
        update={
            "finished_at": at,
            "outcome": outcome,
            "processor_reference": reference or last.processor_reference,
            "error_code": error_code,
            "latency_ms": round(max(latency, 0.0), 1),
        }
    )
    return _changed(payment, attempts=[*earlier, finished])


def attempt_outcome(outcome: ChargeOutcome) -> AttemptOutcome:
    if outcome.pending:
        return AttemptOutcome.PENDING
    return AttemptOutcome.APPROVED if outcome.approved else AttemptOutcome.DECLINED


def refundable(payment: PaymentRecord) -> Money:
    """What is left to refund: the captured amount less refunds succeeded or under way."""
    if payment.status not in REFUNDABLE:
        return Money.zero(payment.currency)
    taken = sum(
        (r.amount for r in payment.refunds if r.status is not RefundStatus.FAILED), Decimal(0)
    )
    return Money.of(payment.amount - taken, payment.currency)


def check_refund(payment: PaymentRecord, amount: Money) -> None:
    """Raises ``IllegalTransitionError`` for a payment that holds nothing to refund and
    ``RefundAmountError`` for an amount it cannot give back."""
    if payment.status not in REFUNDABLE:
        raise IllegalTransitionError(
            f"payment {payment.id} is {payment.status.value}; only a completed payment "
            "can be refunded"
        )
    remaining = refundable(payment)
    if not amount.is_positive() or remaining < amount:
        raise RefundAmountError(f"must be greater than 0 and at most {remaining}, what is left")


def begin_refund(
    payment: PaymentRecord, refund_id: str, amount: Money, reason: str | None, at: datetime
) -> PaymentRecord:
    """The refund reserved before the processor is asked: a concurrent refund of the same
    payment then finds less left, or a newer revision, and cannot over-refund."""
    check_refund(payment, amount)
    refund = Refund(
        id=refund_id,
        amount=amount.amount,
        reason=reason,
        status=RefundStatus.PENDING,
        created_at=at,
    )
    return _changed(payment, refunds=[*payment.refunds, refund])


def finish_refund(
    payment: PaymentRecord, refund_id: str, outcome: RefundOutcome, at: datetime, actor: str
) -> PaymentRecord:
    """The processor's answer on a reserved refund; refunded in full or in part if it paid.

    Only a pending refund takes an answer: a second answer for the same refund (a webhook
    after the API's own, say) changes nothing.
    """
    if not any(r.id == refund_id and r.status is RefundStatus.PENDING for r in payment.refunds):
        return payment
    refunds = [
        r.model_copy(
            update={
                "status": RefundStatus.SUCCEEDED if outcome.succeeded else RefundStatus.FAILED,
                "processor_refund_id": outcome.processor_refund_id,
                "failure_reason": outcome.failure_reason,
            }
        )
        if r.id == refund_id
        else r
        for r in payment.refunds
    ]
    with_answer = _changed(payment, refunds=refunds)
    if not outcome.succeeded:
        return with_answer
    [refund] = [r for r in refunds if r.id == refund_id]
    refunded = payment.refunded_amount + refund.amount
    to = P.REFUNDED if refunded == payment.amount else P.PARTIALLY_REFUNDED
    return transition(
        with_answer, to, at=at, actor=actor, reason=refund.reason, refunded_amount=refunded
    )
