"""Payment rules: fees, routing, risk, validation, the lifecycle and the sandbox processors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from services.payment.app import payment_policy, router
from services.payment.domain.fees import AmountOutOfLimitsError, FeeSchedule, processor_fees
from services.payment.domain.payment import IllegalTransitionError, Payment
from services.payment.domain.requests import CreatePayment, RequestContext
from services.payment.domain.risk import RiskAssessment
from services.payment.processors import Charge, ChargeOutcome
from services.payment.processors.sandbox import sandbox_processors
from services.payment.settings import PaymentSettings
from services.payment.storage.field_encryption import generate_key
from shared.events.payments import (
    PaymentCompleted,
    PaymentFailed,
    PaymentInitiated,
    PaymentMethod,
    PaymentStatus,
    RiskLevel,
)
from shared.money import MINOR_UNITS, Money
from tests.support.factories import payment_request

POLICY = payment_policy(PaymentSettings())
STRIPE, PAYPAL, CRYPTO = (POLICY.fees[name] for name in ("stripe", "paypal", "crypto"))
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def request(**overrides: Any) -> CreatePayment:
    return CreatePayment.model_validate(payment_request("spring-sale", **overrides))


LOW_RISK = RiskAssessment(score=0.15, level=RiskLevel.LOW, signals=())
ROUTER = router(PaymentSettings())


def initiated(**overrides: Any) -> Payment:
    context = RequestContext(ip_address="192.0.2.10", user_agent="Mozilla/5.0")
    asked = request(**overrides)
    return Payment.initiate(
        asked,
        context,
        POLICY,
        payment_id="pay_1",
        processor=ROUTER.first_choice(asked.payment_method),
        risk=LOW_RISK,
        now=NOW,
    )


def processing() -> Payment:
    payment = initiated()
    payment.begin_attempt("stripe", NOW, actor="api")
    return payment


def test_stripe_fee_on_149_99_is_4_65_leaving_145_34() -> None:
    fees = processor_fees(Money.of("149.99", "USD"), STRIPE)

    assert fees.processor_fee == Decimal("4.65")
    assert fees.net_amount == Decimal("145.34")
    assert (fees.fee_rate, fees.fee_fixed) == (Decimal("0.029"), Decimal("0.30"))


@pytest.mark.parametrize(
    ("schedule", "fee"), [(PAYPAL, "5.72"), (CRYPTO, "1.50")], ids=["paypal", "crypto"]
)
def test_other_processors_charge_their_own_schedule(schedule: FeeSchedule, fee: str) -> None:
    assert processor_fees(Money.of("149.99", "USD"), schedule).processor_fee == Decimal(fee)


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2)


@given(amount=amounts, schedule=st.sampled_from([STRIPE, PAYPAL, CRYPTO]))
def test_fee_and_net_always_add_up_to_the_amount_in_whole_cents(
    amount: Decimal, schedule: FeeSchedule
) -> None:
    fees = processor_fees(Money.of(amount, "USD"), schedule)

    assert fees.processor_fee + fees.net_amount == amount
    assert fees.processor_fee >= 0
    assert fees.processor_fee == fees.processor_fee.quantize(Decimal("0.01"))


@given(amount=st.integers(min_value=1, max_value=10_000_000))
def test_fees_in_a_currency_without_minor_units_are_whole(amount: int) -> None:
    fees = processor_fees(Money.of(amount, "JPY"), STRIPE)

    assert fees.processor_fee + fees.net_amount == amount
    assert fees.processor_fee == fees.processor_fee.to_integral_value()


@pytest.mark.parametrize(
    ("method", "processor"),
    [
        (PaymentMethod.CREDIT_CARD, "stripe"),
        (PaymentMethod.DEBIT_CARD, "stripe"),
        (PaymentMethod.PAYPAL, "paypal"),
        (PaymentMethod.BITCOIN, "crypto"),
        (PaymentMethod.ETHEREUM, "crypto"),
    ],
)
def test_payment_method_routes_to_its_processor(method: PaymentMethod, processor: str) -> None:
    assert ROUTER.first_choice(method) == processor


def test_initiated_payment_is_pending_with_quoted_fees_and_its_click() -> None:
    payment = initiated(click_id="clk_spring_1")

    assert (payment.status, payment.processor) == (PaymentStatus.PENDING, "stripe")
    assert payment.metadata.campaign_attribution == "spring-sale"
    assert payment.metadata.click_id == "clk_spring_1"
    assert payment.metadata.processor_fees is not None
    assert payment.metadata.processor_fees.net_amount == Decimal("145.34")
    assert payment.metadata.risk_score == 0.15
    assert payment.processed_at is None
    [announced] = payment.pull_events()
    assert isinstance(announced, PaymentInitiated)
    assert (announced.amount, announced.risk_level) == (Money.of("149.99", "USD"), RiskLevel.LOW)


def test_payment_outside_its_currency_limits_is_never_initiated() -> None:
    with pytest.raises(AmountOutOfLimitsError, match=r"at least 0.50 USD"):
        initiated(amount="0.49")
    with pytest.raises(AmountOutOfLimitsError, match=r"at most 999999.99 USD"):
        initiated(amount="1000000.00")


def test_approved_charge_completes_the_payment_and_announces_fee_and_net() -> None:
    payment = processing()
    payment.pull_events()

    payment.settle(ChargeOutcome("stripe_1"), NOW, POLICY, actor="processor")

    assert payment.status is PaymentStatus.COMPLETED
    assert (payment.processor_transaction_id, payment.processed_at) == ("stripe_1", NOW)
    [completed] = payment.pull_events()
    assert isinstance(completed, PaymentCompleted)
    assert (completed.fee, completed.net) == (Money.of("4.65", "USD"), Money.of("145.34", "USD"))


def test_declined_charge_fails_the_payment_with_the_reason_and_no_fees() -> None:
    payment = processing()
    payment.pull_events()

    payment.settle(ChargeOutcome("stripe_1", "card_declined"), NOW, POLICY, actor="processor")

    assert (payment.status, payment.failure_reason) == (PaymentStatus.FAILED, "card_declined")
    assert payment.metadata.processor_fees is None
    [failed] = payment.pull_events()
    assert isinstance(failed, PaymentFailed)
    assert failed.failure_reason == "card_declined"


def test_settled_payment_takes_no_second_answer_and_cannot_fail() -> None:
    payment = processing()
    payment.settle(ChargeOutcome("stripe_1"), NOW, POLICY, actor="processor")
    payment.pull_events()

    payment.settle(ChargeOutcome("stripe_1", "card_declined"), NOW, POLICY, actor="webhook")
    with pytest.raises(IllegalTransitionError):
        payment.fail("card_declined", NOW, actor="processor")

    assert payment.status is PaymentStatus.COMPLETED
    assert payment.pull_events() == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": 149.99}, "amount.amount"),
        ({"amount": "149.999"}, "amount"),
        ({"amount": "-5.00"}, "amount"),
        ({"amount": "NaN"}, "amount.amount"),
        ({"amount": "100.5", "currency": "JPY"}, "amount"),
        ({"currency": "XYZ"}, "amount.currency"),
        ({"payment_method": "cash"}, "payment_method"),
        ({"payment_token": ""}, "payment_token"),
        ({"campaign_id": "has spaces"}, "campaign_id"),
        ({"attribution": {"channel": "fax"}}, "attribution.channel"),
        ({"card_number": "4242424242424242"}, "card_number"),
    ],
)
def test_invalid_payment_request_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        request(**overrides)

    assert field in {".".join(str(p) for p in e["loc"]) for e in raised.value.errors()}


def test_amount_with_trailing_zeros_means_the_same_payment() -> None:
    assert request(amount="149.990").amount == Money.of("149.99", "USD")


def _charge(method: PaymentMethod, token: str) -> Charge:
    return Charge("pay_1", Money.of("149.99", "USD"), method, token)


@pytest.mark.parametrize(
    ("method", "token", "failure_reason"),
    [
        (PaymentMethod.CREDIT_CARD, "pm_card_visa", None),
        (PaymentMethod.DEBIT_CARD, "pm_card_visa_debit", None),
        (PaymentMethod.CREDIT_CARD, "pm_card_mastercard", None),
        (PaymentMethod.CREDIT_CARD, "pm_card_chargeDeclined", "card_declined"),
        (
            PaymentMethod.CREDIT_CARD,
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
        (PaymentMethod.CREDIT_CARD, "pm_card_unheard_of", "invalid_payment_method"),
        (PaymentMethod.PAYPAL, "EC-sandbox-approved", None),
        (PaymentMethod.PAYPAL, "sandbox_decline", "declined"),
        (PaymentMethod.BITCOIN, "bc1q-sandbox", None),
        (PaymentMethod.ETHEREUM, "sandbox_decline", "declined"),
    ],
)
async def test_sandbox_processor_outcome_is_decided_by_the_token(
    method: PaymentMethod, token: str, failure_reason: str | None
) -> None:
    processor = sandbox_processors()[ROUTER.first_choice(method)]

    outcome = await processor.charge(_charge(method, token))

    assert outcome.failure_reason == failure_reason
    if outcome.processor_transaction_id is not None:
        prefix, _, suffix = outcome.processor_transaction_id.partition("_")
        assert (prefix, len(suffix)) == (processor.name, 36)


def test_settings_refuse_the_development_key_outside_local_mode() -> None:
    with pytest.raises(ValidationError, match="PAYMENT_API_KEY must be set"):
        PaymentSettings(environment="production")

    with pytest.raises(ValidationError, match="PAYMENT_DATA_KEY must be set"):
        PaymentSettings(environment="production", payment_api_key=SecretStr("k" * 32))

    settings = PaymentSettings(
        environment="production",
        payment_api_key=SecretStr("k" * 32),
        payment_data_key=SecretStr(f"prod-1:{generate_key()}"),
        payment_fingerprint_key=SecretStr("f" * 32),
        stripe_api_key=SecretStr("s" * 32),
        paypal_client_id="paypal-client",
        paypal_client_secret=SecretStr("p" * 32),
        crypto_api_key=SecretStr("c" * 32),
    )
    assert "k" * 32 not in repr(settings)
    assert "f" * 32 not in repr(settings)


def test_settings_need_a_fee_for_every_processor() -> None:
    fee = {"rate": "0.029", "fixed": "0.30"}
    with pytest.raises(ValidationError, match="missing crypto"):
        PaymentSettings(payment_processor_fees={"stripe": fee, "paypal": fee})


def test_every_currency_the_money_type_knows_can_be_paid_in() -> None:
    for currency in MINOR_UNITS:
        assert request(currency=currency, amount="100").amount.currency == currency
