"""The payment aggregate: every transition of a payment, and the rule behind it.

    pending ──> processing ──> completed ──> partially_refunded ──> refunded
       │  │          │             └──────────────────────────────────^
       │  └> review ─┤ (approved)
       │        │    └──> failed
       └────────┴───────> failed   (fraud blocked, review declined, processors down)

A payment changes only through its verbs. Each checks that its change is allowed (a named
error otherwise, and nothing changes), appends to ``status_history``, and records the
public event it announces, which ``pull_events`` hands to whoever saves the payment.
Every field is validated on assignment. Storage bumps ``revision`` on each save and
refuses a save made from a stale copy, so a change is applied to the payment as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, Field, PrivateAttr

from services.payment.domain.fees import FeeSchedule, PaymentPolicy, processor_fees
from services.payment.domain.records import (
    AttemptOutcome,
    PaymentMetadata,
    ProcessorAttempt,
    Record,
    Refund,
    RefundStatus,
    StatusChange,
)
from services.payment.domain.requests import CreatePayment, RequestContext
from services.payment.domain.risk import RiskAssessment
from services.payment.processors import ChargeOutcome, RefundOutcome
from shared.events.payments import (
    PaymentCompleted,
    PaymentEvent,
    PaymentFailed,
    PaymentInitiated,
    PaymentMethod,
    PaymentRefunded,
    PaymentReviewRequired,
    PaymentStatus,
)
from shared.money import DecimalString, Money

P = PaymentStatus
ALLOWED: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    P.PENDING: frozenset({P.PROCESSING, P.REVIEW, P.FAILED}),
    P.REVIEW: frozenset({P.PROCESSING, P.FAILED}),
    P.PROCESSING: frozenset({P.COMPLETED, P.FAILED}),
    P.COMPLETED: frozenset({P.PARTIALLY_REFUNDED, P.REFUNDED}),
    P.PARTIALLY_REFUNDED: frozenset({P.PARTIALLY_REFUNDED, P.REFUNDED}),
}
REFUNDABLE = frozenset({P.COMPLETED, P.PARTIALLY_REFUNDED})
DECIDED_OUTCOMES = frozenset({AttemptOutcome.APPROVED, AttemptOutcome.DECLINED})

FRAUD_SUSPECTED = "fraud_suspected"
REVIEW_DECLINED = "review_declined"
PROCESSORS_UNAVAILABLE = "processors_unavailable"
RECONCILIATION_TIMEOUT = "reconciliation_timeout"  # the failure reason and the flag


class IllegalTransitionError(Exception):
    """A payment was asked to move to a status its current status cannot reach."""


class RefundAmountError(ValueError):
    """A refund amount the payment cannot give back: not positive, or more than is left."""


class Payment(Record):
    """A customer's payment for a campaign, in the stored record's shape."""

    id: str = Field(examples=["pay_15eac602-c380-4bce-ad05-12ac162a06b4"])
    customer_id: str
    campaign_id: str
    amount: DecimalString = Field(examples=["149.99"])
    currency: str = Field(examples=["USD"])
    payment_method: PaymentMethod
    processor: str = Field(examples=["stripe"])
    processor_transaction_id: str | None = None
    status: PaymentStatus
    failure_reason: str | None = Field(default=None, examples=["card_declined"])
    created_at: AwareDatetime
    processed_at: AwareDatetime | None = None
    metadata: PaymentMetadata
    status_history: list[StatusChange] = Field(default_factory=list)
    attempts: list[ProcessorAttempt] = Field(default_factory=list)
    refunds: list[Refund] = Field(default_factory=list)
    refunded_amount: DecimalString = Decimal(0)
    revision: int = Field(default=0, ge=0)
    flags: list[str] = Field(default_factory=list)
    _events: list[PaymentEvent] = PrivateAttr(default_factory=list)

    @classmethod
    def initiate(
        cls,
        request: CreatePayment,
        context: RequestContext,
        policy: PaymentPolicy,
        *,
        payment_id: str,
        processor: str,
        risk: RiskAssessment,
        now: datetime,
    ) -> Payment:
        """Pending, within the currency's limits, fees quoted for ``processor``, risk scored."""
        policy.limits.check(request.amount)
        payment = cls(
            id=payment_id,
            customer_id=request.customer_id,
            campaign_id=request.campaign_id,
            amount=request.amount.amount,
            currency=request.amount.currency,
            payment_method=request.payment_method,
            processor=processor,
            status=P.PENDING,
            created_at=now,
            metadata=PaymentMetadata(
                campaign_attribution=request.campaign_id,
                click_id=request.click_id,
                processor_fees=processor_fees(request.amount, policy.fees[processor]),
                ip_address=context.ip_address,
                user_agent=context.user_agent,
                risk_score=risk.score,
                risk_level=risk.level,
                risk_reasons=[signal for signal in risk.signals if signal.contribution > 0],
            ),
            status_history=[StatusChange(to=P.PENDING, at=now, actor="api")],
        )
        payment._record(
            PaymentInitiated(**payment._facts(now), risk_level=risk.level, risk_score=risk.score)
        )
        return payment

    # -- risk and review ---------------------------------------------------------------

    def hold_for_review(self, now: datetime) -> None:
        self._move(P.REVIEW, now, actor="risk", reason="risk_review")
        reasons = sorted(self.metadata.risk_reasons, key=lambda r: -r.contribution)
        self._record(
            PaymentReviewRequired(
                **self._facts(now),
                risk_score=self.metadata.risk_score or 0.0,
                risk_signals=[reason.signal for reason in reasons],
            )
        )

    def approve(self, reviewer: str, reason: str | None, now: datetime) -> None:
        """A reviewer's approval: the payment is charged next."""
        self._require_review()
        self._move(P.PROCESSING, now, actor=f"reviewer:{reviewer}", reason=reason)

    def decline_review(self, reviewer: str, now: datetime) -> None:
        self._require_review()
        self.fail(REVIEW_DECLINED, now, actor=f"reviewer:{reviewer}")

    # -- charging ------------------------------------------------------------------------

    def begin_attempt(self, processor: str, now: datetime, *, actor: str) -> ProcessorAttempt:
        """The next call to a processor, under its own idempotency key ``<id>:<processor>``."""
        if self.status is not P.PROCESSING:
            self._move(P.PROCESSING, now, actor=actor)
        attempt = ProcessorAttempt(
            processor=processor,
            attempt_key=f"{self.id}:{processor}",
            started_at=now,
            first_sent_at=now,
        )
        self.processor = processor
        self.attempts = [*self.attempts, attempt]
        return attempt

    def restart_attempt(self, now: datetime) -> ProcessorAttempt:
        """The latest attempt sent again under its own key: to the processor it is the same
        attempt, so its record starts over rather than a new one being added."""
        last = self._last_attempt()
        last.started_at, last.finished_at, last.outcome = now, None, None
        last.error_code, last.latency_ms = None, None
        return last

    def settle(
        self, outcome: ChargeOutcome, now: datetime, policy: PaymentPolicy, *, actor: str
    ) -> None:
        """The processor's answer on the latest attempt: completed, failed, or still
        processing while the charge awaits confirmation."""
        if self.status is not P.PROCESSING:
            return  # settled already: a late or repeated answer changes nothing
        self._finish_attempt(
            attempt_outcome(outcome),
            now,
            reference=outcome.processor_transaction_id,
            error_code=outcome.failure_reason,
        )
        if outcome.pending:
            return
        if outcome.approved:
            self._complete(outcome.processor_transaction_id, now, policy.fees, actor=actor)
        else:
            self.fail(outcome.failure_reason or "declined", now, actor=actor)

    def attempt_unanswered(self, error_code: str, now: datetime, *, charged_nothing: bool) -> None:
        """The latest attempt ended without a decision: nothing charged (the route may try
        the next processor), or an unknown outcome (reconciliation asks the processor)."""
        outcome = AttemptOutcome.UNAVAILABLE if charged_nothing else AttemptOutcome.UNKNOWN
        self._finish_attempt(outcome, now, error_code=error_code)

    def fail(self, reason: str, now: datetime, *, actor: str) -> None:
        """Failed for ``reason``; a payment that was never captured costs no fee."""
        self._move(P.FAILED, now, actor=actor, reason=reason)
        self.failure_reason, self.processed_at = reason, now
        self.metadata.processor_fees = None
        self._record(PaymentFailed(**self._facts(now), failure_reason=reason))

    def time_out(self, now: datetime) -> None:
        """Still undecided past the limit: failed, and flagged, because the processor may
        yet take the money and only a person can settle that with the customer."""
        self.fail(RECONCILIATION_TIMEOUT, now, actor="reconciliation")
        self.flag(RECONCILIATION_TIMEOUT)

    def flag(self, condition: str) -> None:
        """Mark a condition only a person can resolve."""
        if condition not in self.flags:
            self.flags = [*self.flags, condition]

    # -- refunds -------------------------------------------------------------------------

    def reserve_refund(
        self, refund_id: str, amount: Money | None, reason: str | None, now: datetime
    ) -> Refund:
        """The refund reserved before the processor is asked: a concurrent refund then finds
        less left and cannot over-refund. ``None`` refunds everything left."""
        if self.status not in REFUNDABLE:
            raise IllegalTransitionError(
                f"the payment is {self.status.value}; only a completed payment can be refunded"
            )
        left = self.refundable
        wanted = left if amount is None else amount
        if wanted.currency != self.currency:
            raise RefundAmountError(f"must be in the payment's currency, {self.currency}")
        if not wanted.is_positive() or left < wanted:
            raise RefundAmountError(f"must be greater than 0 and at most {left}, what is left")
        refund = Refund(
            id=refund_id,
            amount=wanted.amount,
            reason=reason,
            status=RefundStatus.PENDING,
            created_at=now,
        )
        self.refunds = [*self.refunds, refund]
        return refund

    def settle_refund(
        self, refund_id: str, outcome: RefundOutcome, now: datetime, *, actor: str
    ) -> None:
        """The processor's answer on a reserved refund. Only a pending refund takes an
        answer: a second one (a webhook after the API's own, say) changes nothing."""
        refund = self.refund(refund_id)
        if refund.status is not RefundStatus.PENDING:
            return
        refund.processor_refund_id = outcome.processor_refund_id
        refund.failure_reason, refund.error_code = outcome.failure_reason, None
        refund.finished_at = now
        if not outcome.succeeded:
            refund.status = RefundStatus.FAILED  # the reservation is released
            return
        refund.status = RefundStatus.SUCCEEDED
        refunded = self.refunded_amount + refund.amount
        to = P.REFUNDED if refunded == self.amount else P.PARTIALLY_REFUNDED
        self._move(to, now, actor=actor, reason=refund.reason)
        self.refunded_amount = refunded
        self._record(
            PaymentRefunded(
                **self._facts(now),
                refund_id=refund.id,
                refund_amount=self._money(refund.amount),
                refunded_total=self._money(refunded),
                fee=self.fee,
                net=self.money - self.fee,
                processor_transaction_id=self.processor_transaction_id,
            )
        )

    def refund_unanswered(self, refund_id: str, error_code: str) -> None:
        """The processor may have refunded: the refund stays pending, its amount held."""
        refund = self.refund(refund_id)
        if refund.status is RefundStatus.PENDING:
            refund.error_code = error_code

    def refund(self, refund_id: str) -> Refund:
        found = [refund for refund in self.refunds if refund.id == refund_id]
        if not found:
            raise KeyError(f"the payment holds no refund {refund_id}")
        return found[0]

    # -- what it is ----------------------------------------------------------------------

    @property
    def money(self) -> Money:
        return self._money(self.amount)

    @property
    def fee(self) -> Money:
        fees = self.metadata.processor_fees
        return self._money(fees.processor_fee if fees else Decimal(0))

    @property
    def refundable(self) -> Money:
        """What is left to refund: the captured amount less refunds made or under way."""
        if self.status not in REFUNDABLE:
            return self._money(Decimal(0))
        taken = sum(
            (r.amount for r in self.refunds if r.status is not RefundStatus.FAILED), Decimal(0)
        )
        return self._money(self.amount - taken)

    @property
    def pending_refunds(self) -> list[Refund]:
        return [refund for refund in self.refunds if refund.status is RefundStatus.PENDING]

    @property
    def last_attempt(self) -> ProcessorAttempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def credited_campaign(self) -> str:
        return self.metadata.campaign_attribution or self.campaign_id

    def pull_events(self) -> list[PaymentEvent]:
        """The events its changes announce, oldest first, once."""
        events, self._events = self._events, []
        return events

    # -- rules behind the verbs ----------------------------------------------------------

    def _move(
        self, to: PaymentStatus, now: datetime, *, actor: str, reason: str | None = None
    ) -> None:
        if to not in ALLOWED.get(self.status, frozenset()):
            raise IllegalTransitionError(
                f"the payment is {self.status.value} and cannot become {to.value}"
            )
        change = StatusChange(from_status=self.status, to=to, at=now, reason=reason, actor=actor)
        self.status_history = [*self.status_history, change]
        self.status = to

    def _require_review(self) -> None:
        if self.status is not P.REVIEW:
            raise IllegalTransitionError(
                f"the payment is {self.status.value}; only a payment in review can be reviewed"
            )

    def _complete(
        self,
        reference: str | None,
        now: datetime,
        fees: Mapping[str, FeeSchedule],
        *,
        actor: str,
    ) -> None:
        """Captured by ``self.processor``: its fees are the ones that apply."""
        self._move(P.COMPLETED, now, actor=actor)
        self.processor_transaction_id, self.processed_at = reference, now
        self.metadata.processor_fees = processor_fees(self.money, fees[self.processor])
        self._record(
            PaymentCompleted(
                **self._facts(now),
                processor_transaction_id=reference,
                fee=self.fee,
                net=self.money - self.fee,
            )
        )

    def _last_attempt(self) -> ProcessorAttempt:
        if not self.attempts:
            raise IllegalTransitionError("the payment has no processor attempt")
        return self.attempts[-1]

    def _finish_attempt(
        self,
        outcome: AttemptOutcome,
        now: datetime,
        *,
        reference: str | None = None,
        error_code: str | None = None,
    ) -> None:
        last = self._last_attempt()
        latency = (now - last.started_at).total_seconds() * 1000
        last.finished_at, last.outcome = now, outcome
        last.processor_reference = reference or last.processor_reference
        last.error_code, last.latency_ms = error_code, round(max(latency, 0.0), 1)

    def _money(self, amount: Decimal) -> Money:
        return Money.of(amount, self.currency)

    def _facts(self, now: datetime) -> dict[str, Any]:
        return {
            "payment_id": self.id,
            "campaign_id": self.credited_campaign,
            "customer_id": self.customer_id,
            "amount": self.money,
            "payment_method": self.payment_method,
            "processor": self.processor,
            "click_id": self.metadata.click_id,
            "occurred_at": now,
        }

    def _record(self, event: PaymentEvent) -> None:
        self._events.append(event)


def attempt_outcome(outcome: ChargeOutcome) -> AttemptOutcome:
    if outcome.pending:
        return AttemptOutcome.PENDING
    return AttemptOutcome.APPROVED if outcome.approved else AttemptOutcome.DECLINED
