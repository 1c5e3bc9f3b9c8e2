"""The payment aggregate as a model: no sequence of its verbs reaches a status the table
forbids, a refused verb changes nothing, the history stays one chain, refunds never exceed
what was captured, and every announced fact is announced once. Then the money those verbs
carry: fees rounded half-up once, in each currency's minor unit.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from pydantic import ValidationError

from services.payment.app import payment_policy
from services.payment.domain.fees import FeeSchedule, processor_fees
from services.payment.domain.payment import (
    ALLOWED,
    REFUNDABLE,
    IllegalTransitionError,
    Payment,
    RefundAmountError,
)
from services.payment.domain.records import RefundStatus
from services.payment.domain.requests import CreatePayment, RequestContext
from services.payment.domain.risk import RiskAssessment
from services.payment.processors import ChargeOutcome, RefundOutcome
from services.payment.settings import PaymentSettings
from shared.events.payments import (
    PaymentCompleted,
    PaymentEvent,
    PaymentFailed,
    PaymentRefunded,
    PaymentStatus,
    RiskLevel,
)
from shared.money import MINOR_UNITS, Money, minor_unit
from tests.support.factories import payment_request

P = PaymentStatus
POLICY = payment_policy(PaymentSettings())
CONTEXT = RequestContext(ip_address="192.0.2.10", user_agent="Mozilla/5.0")
LOW_RISK = RiskAssessment(score=0.1, level=RiskLevel.LOW, signals=())
CURRENCIES = sorted(MINOR_UNITS)
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROCESSORS = ["stripe", "paypal", "crypto"]
OUTCOMES = {
    "approved": ChargeOutcome("ref_model"),
    "declined": ChargeOutcome("ref_model", "card_declined"),
    "pending": ChargeOutcome("ref_model", pending=True),
}


def amounts(currency: str, least: Decimal | None = None) -> st.SearchStrategy[Decimal]:
    """Amounts written in ``currency``'s minor unit, from ``least`` (one unit) upwards."""
    return st.decimals(
        min_value=minor_unit(currency) if least is None else least,
        max_value=Decimal(1_000_000),
        places=MINOR_UNITS[currency],
    )


@st.composite
def payment_requests(draw: st.DrawFn) -> CreatePayment:
    currency = draw(st.sampled_from(CURRENCIES))
    least = POLICY.limits.minimum[currency]
    amount = draw(amounts(currency, least=least).filter(lambda a: a <= Decimal(999_999)))
    body = payment_request("lifecycle", currency=currency, amount=str(amount))
    return CreatePayment.model_validate(body)


class PaymentLifecycle(RuleBasedStateMachine):
    """One payment moved by the aggregate's verbs, in any order, with any arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.payment: Payment | None = None
        self.clock = START
        self.refund_ids = itertools.count(1)
        self.announced: list[PaymentEvent] = []

    def now(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    @property
    def current(self) -> Payment:
        assert self.payment is not None
        return self.payment

    @initialize(request=payment_requests())
    def take(self, request: CreatePayment) -> None:
        self.payment = Payment.initiate(
            request,
            CONTEXT,
            POLICY,
            payment_id="pay_model",
            processor="stripe",
            risk=LOW_RISK,
            now=self.now(),
        )
        self.announced += self.payment.pull_events()

    def _apply(self, verb_name: str, *args: object, **kwargs: object) -> None:
        """Applies a verb; a refused one must leave the payment exactly as it was."""
        before = self.current.model_dump()
        try:
            getattr(self.current, verb_name)(*args, **kwargs)
        except (IllegalTransitionError, RefundAmountError):
            assert self.current.model_dump() == before, f"{verb_name} changed a refused payment"
        self.announced += self.current.pull_events()

    @rule(reason=st.sampled_from(["card_declined", "fraud_suspected", "processors_unavailable"]))
    def fail(self, reason: str) -> None:
        self._apply("fail", reason, self.now(), actor="model")

    @rule()
    def hold_for_review(self) -> None:
        self._apply("hold_for_review", self.now())

    @rule(approve=st.booleans())
    def review(self, approve: bool) -> None:
        if approve:
            self._apply("approve", "ana", None, self.now())
        else:
            self._apply("decline_review", "ana", self.now())

    @rule(processor=st.sampled_from(PROCESSORS))
    def begin_attempt(self, processor: str) -> None:
        self._apply("begin_attempt", processor, self.now(), actor="model")

    @precondition(lambda self: bool(self.current.attempts))
    @rule(answer=st.sampled_from(sorted(OUTCOMES)))
    def settle(self, answer: str) -> None:
        self._apply("settle", OUTCOMES[answer], self.now(), POLICY, actor="processor")

    @precondition(lambda self: bool(self.current.attempts))
    @rule(charged_nothing=st.booleans())
    def attempt_unanswered(self, charged_nothing: bool) -> None:
        self._apply("attempt_unanswered", "timeout", self.now(), charged_nothing=charged_nothing)

    @rule(data=st.data())
    def reserve_refund(self, data: st.DataObject) -> None:
        payment = self.current
        currency, unit = payment.currency, minor_unit(payment.currency)
        left = payment.refundable.amount
        # Around what is left as often as anywhere else: that is where the rules bite.
        edges = [left - unit, left, left + unit, Decimal(0)]
        anywhere = st.decimals(
            min_value=-unit, max_value=payment.amount * Decimal("1.5"), places=MINOR_UNITS[currency]
        )
        amount = data.draw(st.sampled_from(edges) | anywhere, label="refund amount")
        everything = data.draw(st.booleans(), label="no amount: everything left")
        asked = None if everything else Money.of(amount, currency)
        refunds_before = len(payment.refunds)
        self._apply("reserve_refund", f"re_{next(self.refund_ids)}", asked, None, self.now())
        if len(self.current.refunds) > refunds_before:
            assert payment.status in REFUNDABLE
            assert self.current.refundable.amount == left - (left if everything else amount)

    @precondition(lambda self: bool(self.current.pending_refunds))
    @rule(data=st.data(), answer=st.sampled_from(["succeeded", "refused", "lost"]))
    def answer_refund(self, data: st.DataObject, answer: str) -> None:
        refund = data.draw(st.sampled_from(self.current.pending_refunds), label="refund")
        if answer == "lost":
            self._apply("refund_unanswered", refund.id, "timeout")
            return
        outcome = (
            RefundOutcome("re_processor") if answer == "succeeded" else RefundOutcome(None, "x")
        )
        self._apply("settle_refund", refund.id, outcome, self.now(), actor="processor")
        again = self.current.model_dump()
        self._apply("settle_refund", refund.id, outcome, self.now(), actor="webhook:stripe")
        assert self.current.model_dump() == again, "a second answer for a refund changed it"

    @invariant()
    def history_is_one_chain_along_the_table(self) -> None:
        if self.payment is None:
            return
        history = self.payment.status_history
        assert (history[0].from_status, history[0].to) == (None, P.PENDING)
        for earlier, later in itertools.pairwise(history):
            assert later.from_status is earlier.to
            assert later.to in ALLOWED[earlier.to]
            assert later.at >= earlier.at
        assert history[-1].to is self.payment.status

    @invariant()
    def refunds_never_exceed_the_captured_amount(self) -> None:
        if self.payment is None:
            return
        payment = self.payment
        by_status = {
            status: sum((r.amount for r in payment.refunds if r.status is status), Decimal(0))
            for status in RefundStatus
        }
        assert payment.refunded_amount == by_status[RefundStatus.SUCCEEDED]
        assert payment.refunded_amount <= payment.amount
        left = payment.refundable.amount
        assert left >= 0
        if payment.status in REFUNDABLE:
            taken = by_status[RefundStatus.SUCCEEDED] + by_status[RefundStatus.PENDING]
            assert left == payment.amount - taken
        assert (payment.status is P.REFUNDED) == (payment.refunded_amount == payment.amount)
        assert (payment.status is P.PARTIALLY_REFUNDED) == (
            0 < payment.refunded_amount < payment.amount
        )

    @invariant()
    def every_fact_is_announced_once(self) -> None:
        if self.payment is None:
            return
        kinds = [type(event) for event in self.announced]
        reached = {change.to for change in self.payment.status_history}
        assert kinds.count(PaymentCompleted) == (P.COMPLETED in reached)
        assert kinds.count(PaymentFailed) == (P.FAILED in reached)
        refunded = [e for e in self.announced if isinstance(e, PaymentRefunded)]
        succeeded = [r.id for r in self.payment.refunds if r.status is RefundStatus.SUCCEEDED]
        assert [e.refund_id for e in refunded] == succeeded

    @invariant()
    def fees_are_those_of_the_processor_that_took_it(self) -> None:
        if self.payment is None:
            return
        payment, fees = self.payment, self.payment.metadata.processor_fees
        if payment.status is P.FAILED:
            assert fees is None
        elif P.COMPLETED in {change.to for change in payment.status_history}:
            assert fees == processor_fees(payment.money, POLICY.fees[payment.processor])
        if fees is not None:
            assert fees.processor_fee + fees.net_amount == payment.amount


TestNoSequenceOfVerbsLeavesTheTableOrOverRefunds = PaymentLifecycle.TestCase
TestNoSequenceOfVerbsLeavesTheTableOrOverRefunds.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)


@given(data=st.data(), currency=st.sampled_from(CURRENCIES))
def test_fee_is_the_schedule_rounded_half_up_once_to_the_minor_unit(
    data: st.DataObject, currency: str
) -> None:
    amount = data.draw(amounts(currency), label="amount")
    rate = data.draw(st.decimals(min_value=0, max_value=Decimal("0.2"), places=4), label="rate")
    fixed = data.draw(st.decimals(min_value=0, max_value=5, places=3), label="fixed")

    fees = processor_fees(Money.of(amount, currency), FeeSchedule(rate, fixed))

    unit = minor_unit(currency)
    exact = amount * rate + fixed
    assert fees.processor_fee % unit == 0
    assert fees.processor_fee - unit / 2 <= exact < fees.processor_fee + unit / 2
    assert fees.processor_fee + fees.net_amount == amount


@pytest.mark.parametrize(
    ("amount", "currency", "rate", "fee"),
    [
        ("0.10", "USD", "0.05", "0.01"),  # 0.005: half a cent goes up
        ("0.30", "USD", "0.05", "0.02"),  # 0.015: up, not to the even cent
        ("50", "JPY", "0.01", "1"),  # 0.5 yen
        ("150", "JPY", "0.01", "2"),  # 1.5 yen
    ],
)
def test_a_fee_exactly_half_way_between_minor_units_rounds_up(
    amount: str, currency: str, rate: str, fee: str
) -> None:
    schedule = FeeSchedule(Decimal(rate), Decimal(0))

    fees = processor_fees(Money.of(amount, currency), schedule)

    assert fees.processor_fee == Decimal(fee)


@given(data=st.data(), currency=st.sampled_from(CURRENCIES))
def test_an_amount_in_the_currency_minor_unit_is_taken_as_written(
    data: st.DataObject, currency: str
) -> None:
    amount = data.draw(amounts(currency), label="amount")
    written = f"{amount}000" if MINOR_UNITS[currency] else str(amount)

    request = CreatePayment.model_validate(payment_request(currency=currency, amount=written))

    assert request.amount.amount == amount
    assert request.amount.amount.as_tuple().exponent == -MINOR_UNITS[currency]


@given(data=st.data(), currency=st.sampled_from(CURRENCIES))
def test_an_amount_finer_than_the_currency_minor_unit_is_refused(
    data: st.DataObject, currency: str
) -> None:
    places = MINOR_UNITS[currency]
    whole = data.draw(amounts(currency, least=Decimal(0)), label="whole units")
    finer = data.draw(st.integers(min_value=1, max_value=9), label="finer digit")
    amount = whole + Decimal(finer).scaleb(-(places + 1))

    with pytest.raises(ValidationError) as refused:
        CreatePayment.model_validate(payment_request(currency=currency, amount=str(amount)))

    assert [e["loc"][0] for e in refused.value.errors()] == ["amount"]
