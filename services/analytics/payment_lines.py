"""The campaign report's row per payment: what it earned, and what refunds took back."""

from __future__ import annotations

from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, Field

from shared.events.payments import Attribution, PaymentMethod, PaymentRecord, PaymentStatus
from shared.events.revenue import RevenueRecorded
from shared.money import Money, round_half_up


class PaymentLine(BaseModel):
    """One payment in a campaign's report; fee and net only once it completed."""

    payment_id: str
    customer_id: str
    payment_method: PaymentMethod
    processor: str
    amount: Money
    fee: Money | None = None
    net: Money | None = None
    status: PaymentStatus
    failure_reason: str | None = None
    attribution: Attribution
    created_at: AwareDatetime
    refunded: Money | None = Field(
        default=None,
        description="Refunded so far, once a refund succeeded; amount, fee and net are as "
        "the payment completed.",
    )


def payment_line(payment: PaymentRecord, revenue: RevenueRecorded | None) -> PaymentLine:
    """The report's row: completed when it earned revenue, failed otherwise."""
    amount = round_half_up(payment.amount, payment.currency)
    return PaymentLine(
        payment_id=payment.id,
        customer_id=payment.customer_id,
        payment_method=payment.payment_method,
        processor=payment.processor,
        amount=revenue.gross if revenue else Money.of(amount, payment.currency),
        fee=revenue.fee if revenue else None,
        net=revenue.net if revenue else None,
        status=PaymentStatus.COMPLETED if revenue else PaymentStatus.FAILED,
        failure_reason=payment.failure_reason,
        attribution=payment.metadata.attribution,
        created_at=payment.created_at,
    )


def refunded_line(line: PaymentLine, refunded: Decimal) -> PaymentLine:
    """The row once ``refunded`` of its amount has been given back, in all."""
    fully = refunded >= line.amount.amount
    status = PaymentStatus.REFUNDED if fully else PaymentStatus.PARTIALLY_REFUNDED
    return line.model_copy(
        update={"status": status, "refunded": Money.of(refunded, line.amount.currency)}
    )
