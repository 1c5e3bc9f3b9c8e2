"""Payment rules: the request, routing, fees, the risk score and the status lifecycle.

A payment moves pending -> processing -> completed | failed and never back. Fees are the
processor's published schedule (rate x amount + fixed, rounded half-up to the minor unit
once), quoted when the payment is initiated and dropped if it fails: a declined charge
costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, WithJsonSchema, field_validator

from services.payment.processors import ChargeOutcome
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

ROUTES: Mapping[PaymentMethod, str] = {
    PaymentMethod.CREDIT_CARD: "stripe",
    PaymentMethod.DEBIT_CARD: "stripe",
    PaymentMethod.PAYPAL: "paypal",
    PaymentMethod.BITCOIN: "crypto",
    PaymentMethod.ETHEREUM: "crypto",
}
PROCESSORS = frozenset(ROUTES.values())


class IllegalTransitionError(Exception):
    """A payment was asked to move to a status its current status cannot reach."""


class CreatePayment(BaseModel):
    """A customer's payment for a campaign's product. ``currency`` precedes ``amount``
    because the amount's allowed decimal places depend on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str = Field(min_length=1, max_length=128, examples=["customer_5178"])
    campaign_id: CampaignId
    currency: str = Field(description="ISO 4217 code.", examples=["USD"])
    amount: Annotated[Decimal, WithJsonSchema({"type": "string", "format": "decimal"})] = Field(
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

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        if currency not in MINOR_UNITS:
            raise ValueError(f"unknown currency {currency!r}; use one of {', '.join(MINOR_UNITS)}")
        return currency

    @field_validator("amount", mode="before")
    @classmethod
    def _decimal_string(cls, amount: Any) -> Any:
        if not isinstance(amount, str):
            raise ValueError('must be a decimal string such as "149.99", not a JSON number')
        return amount

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
    ip_address: str | None
    user_agent: str | None


@dataclass(frozen=True)
class FeeSchedule:
    rate: Decimal
    fixed: Decimal


@dataclass(frozen=True)
class PaymentPolicy:
    fees: Mapping[str, FeeSchedule]
    high_amount_threshold: Decimal


def route_payment(method: PaymentMethod) -> str:
    return ROUTES[method]


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


def risk_score(amount: Money, high_amount_threshold: Decimal) -> float:
    """The amount as a share of the high-amount threshold, capped at 1, to 3 places.

    A placeholder that is easy to explain ("this payment is 15% of what we call high"),
    not fraud detection; real scoring replaces it in a later issue.
    """
    share = min(amount.amount / high_amount_threshold, Decimal(1))
    return float(round(share, 3))


def initiate_payment(
    request: CreatePayment,
    context: RequestContext,
    policy: PaymentPolicy,
    *,
    payment_id: str,
    now: datetime,
) -> PaymentRecord:
    processor = route_payment(request.payment_method)
    return PaymentRecord(
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
            risk_score=risk_score(request.money, policy.high_amount_threshold),
        ),
    )


_NEXT: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.PROCESSING}),
    PaymentStatus.PROCESSING: frozenset({PaymentStatus.COMPLETED, PaymentStatus.FAILED}),
}


def _advance(payment: PaymentRecord, status: PaymentStatus, **changes: Any) -> PaymentRecord:
    if status not in _NEXT.get(payment.status, frozenset()):
        raise IllegalTransitionError(f"payment {payment.id} cannot go {payment.status} -> {status}")
    return payment.model_copy(update={"status": status, **changes})


def start_processing(payment: PaymentRecord) -> PaymentRecord:
    return _advance(payment, PaymentStatus.PROCESSING)


def settle(payment: PaymentRecord, outcome: ChargeOutcome, now: datetime) -> PaymentRecord:
    """Completed when the processor approved the charge, failed with its reason otherwise."""
    if outcome.approved:
        status, metadata = PaymentStatus.COMPLETED, payment.metadata
    else:
        status = PaymentStatus.FAILED
        metadata = payment.metadata.model_copy(update={"processor_fees": None})
    return _advance(
        payment,
        status,
        processor_transaction_id=outcome.processor_transaction_id,
        failure_reason=outcome.failure_reason,
        processed_at=now,
        metadata=metadata,
    )
