"""Payment rules: the request, its amount limits, fees, and the payment as first recorded.

Fees are the processor's published schedule (rate x amount + fixed, rounded half-up to the
minor unit once), quoted for the first processor of the route when the payment is
initiated, requoted for the processor that actually took it, and dropped if it fails: a
declined charge costs nothing. The lifecycle after initiation is in ``lifecycle``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from services.payment.domain import lifecycle
from services.payment.domain.risk import RiskAssessment
from shared.events.common import CampaignId
from shared.events.payments import (
    Attribution,
    PaymentMetadata,
    PaymentMethod,
    PaymentRecord,
    PaymentStatus,
    ProcessorFees,
)
from shared.money import MINOR_UNITS, Money, round_half_up

# The smallest charge each currency's processors accept (Stripe's minimums; PayPal's and
# the crypto gateway's are lower), and a ceiling that stops a typo becoming a large charge.
DEFAULT_MINIMUM_AMOUNTS: Mapping[str, Decimal] = {
    "USD": Decimal("0.50"),
    "EUR": Decimal("0.50"),
    "GBP": Decimal("0.30"),
    "CAD": Decimal("0.50"),
    "AUD": Decimal("0.50"),
    "CHF": Decimal("0.50"),
    "SEK": Decimal("3.00"),
    "JPY": Decimal("50"),
}
# Stripe's largest single charge in each currency; a payment above it is a mistake here.
DEFAULT_MAXIMUM_AMOUNTS: Mapping[str, Decimal] = {
    "USD": Decimal("999999.99"),
    "EUR": Decimal("999999.99"),
    "GBP": Decimal("999999.99"),
    "CAD": Decimal("999999.99"),
    "AUD": Decimal("999999.99"),
    "CHF": Decimal("999999.99"),
    "SEK": Decimal("9999999.99"),
    "JPY": Decimal("99999999"),
}


def _decimal_string(amount: Any) -> Any:
    if not isinstance(amount, str):
        raise ValueError('must be a decimal string such as "149.99", not a JSON number')
    return amount


DecimalAmount = Annotated[
    Decimal,
    BeforeValidator(_decimal_string),
    WithJsonSchema({"type": "string", "format": "decimal", "examples": ["149.99"]}),
]


class CreatePayment(BaseModel):
    """A customer's payment for a campaign's product. ``currency`` precedes ``amount``
    because the amount's allowed decimal places depend on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str = Field(min_length=1, max_length=128, examples=["customer_5178"])
    campaign_id: CampaignId
    currency: str = Field(description="ISO 4217 code.", examples=["USD"])
    amount: DecimalAmount = Field(
        description="Decimal string, greater than zero, at most the currency's minor unit.",
        examples=["149.99"],
    )
    payment_method: PaymentMethod
    payment_token: str = Field(
        min_length=1,
        max_length=255,
        description="The processor's token for the instrument; card numbers never reach us.",
        examples=["pm_card_visa"],
    )
    attribution: Attribution | None = None
    customer_country: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166 alpha-2, when the shop knows it; compared with the IP's country.",
        examples=["US"],
    )

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        if currency not in MINOR_UNITS:
            raise ValueError(f"unknown currency {currency!r}; use one of {', '.join(MINOR_UNITS)}")
        return currency

    @field_validator("amount")
    @classmethod
    def _valid_in_currency(cls, amount: Decimal, info: ValidationInfo) -> Decimal:
        if not amount.is_finite() or amount <= 0:
            raise ValueError("must be greater than 0")
        currency = info.data.get("currency")
        if currency is None:
            return amount  # the currency's own error says what to fix first
        return Money(amount=amount, currency=currency).amount

    @property
    def money(self) -> Money:
        return Money(amount=self.amount, currency=self.currency)


@dataclass(frozen=True)
class RequestContext:
    """Where the request came from: recorded encrypted, used for risk, never logged."""

    ip_address: str | None
    user_agent: str | None
    ip_country: str | None = None


@dataclass(frozen=True)
class FeeSchedule:
    rate: Decimal
    fixed: Decimal


@dataclass(frozen=True)
class AmountLimits:
    minimum: Mapping[str, Decimal]
    maximum: Mapping[str, Decimal]

    def problem(self, amount: Money) -> str | None:
        """Why ``amount`` may not be charged, or None."""
        least = self.minimum.get(amount.currency, Decimal(0))
        if amount.amount < least:
            return f"must be at least {Money.of(least, amount.currency)}"
        most = self.maximum.get(amount.currency)
        if most is not None and amount.amount > most:
            return f"must be at most {Money.of(most, amount.currency)}"
        return None


@dataclass(frozen=True)
class PaymentPolicy:
    fees: Mapping[str, FeeSchedule]
    limits: AmountLimits


def processor_fees(amount: Money, schedule: FeeSchedule) -> ProcessorFees:
    """149.99 USD at 2.9% + 0.30 -> fee 4.65, net 145.34; fee + net is always the amount.

    The fixed part is in the payment's currency and rounds to its minor unit (0 for JPY).
    Below the fixed part the net is negative, as it is on the processor's statement.
    """
    exact = amount.amount * schedule.rate + schedule.fixed
    fee = Money(amount=round_half_up(exact, amount.currency), currency=amount.currency)
    return ProcessorFees(
        processor_fee=fee.amount,
        net_amount=(amount - fee).amount,
        fee_rate=schedule.rate,
        fee_fixed=schedule.fixed,
    )


def initiate_payment(
    request: CreatePayment,
    context: RequestContext,
    policy: PaymentPolicy,
    *,
    payment_id: str,
    processor: str,
    risk: RiskAssessment,
    now: datetime,
) -> PaymentRecord:
    """The payment as first recorded: pending, fees quoted for ``processor``, risk scored."""
    payment = PaymentRecord(
        id=payment_id,
        customer_id=request.customer_id,
        campaign_id=request.campaign_id,
        amount=request.money.amount,
        currency=request.currency,
        payment_method=request.payment_method,
        processor=processor,
        status=PaymentStatus.PENDING,
        created_at=now,
        metadata=PaymentMetadata(
            campaign_attribution=request.campaign_id,
            attribution=request.attribution or Attribution(),
            processor_fees=processor_fees(request.money, policy.fees[processor]),
            ip_address=context.ip_address,
            user_agent=context.user_agent,
            risk_score=risk.score,
            risk_level=risk.level,
            risk_reasons=[signal for signal in risk.signals if signal.contribution > 0],
        ),
    )
    return lifecycle.created(payment, actor="api")


def complete(
    payment: PaymentRecord,
    reference: str | None,
    policy: PaymentPolicy,
    at: datetime,
    *,
    actor: str = "processor",
) -> PaymentRecord:
    """Captured by ``payment.processor``: its fees are the ones that apply."""
    fees = processor_fees(
        Money.of(payment.amount, payment.currency), policy.fees[payment.processor]
    )
    return lifecycle.transition(
        payment,
        PaymentStatus.COMPLETED,
        at=at,
        actor=actor,
        processor_transaction_id=reference,
        processed_at=at,
        metadata=payment.metadata.model_copy(update={"processor_fees": fees}),
    )


def fail(
    payment: PaymentRecord, reason: str, at: datetime, *, actor: str = "processor"
) -> PaymentRecord:
    """Failed for ``reason``; a payment that was never captured costs no fee."""
    return lifecycle.transition(
        payment,
        PaymentStatus.FAILED,
        at=at,
        actor=actor,
        reason=reason,
        failure_reason=reason,
        processed_at=at,
        metadata=payment.metadata.model_copy(update={"processor_fees": None}),
    )
