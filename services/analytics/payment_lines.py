"""The campaign report's row per payment, built from its events: what it earned, and what
refunds took back."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field

from shared.events.payments import Attribution, PaymentFailed, PaymentMethod
from shared.events.revenue import RevenueRecorded
from shared.money import Money


class LineStatus(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class PaymentLine(BaseModel):
    """One payment in a campaign's report; fee and net only once it completed."""

    payment_id: str
    customer_id: str
    payment_method: PaymentMethod
    processor: str
    amount: Money
    fee: Money | None = None
    net: Money | None = None
    status: LineStatus
    failure_reason: str | None = None
    attribution: Attribution
    occurred_at: AwareDatetime = Field(
        description="When it completed or failed; when it was refunded, for a payment whose "
        "refund arrived before its completion."
    )
    refunded: Money | None = Field(
        default=None,
        description="Refunded so far, once a refund succeeded; amount, fee and net are as "
        "the payment completed.",
    )


def completed_line(revenue: RevenueRecorded, occurred_at: datetime) -> PaymentLine:
    return PaymentLine(
        payment_id=revenue.payment_id,
        customer_id=revenue.customer_id,
        payment_method=revenue.payment_method,
        processor=revenue.processor,
        amount=revenue.gross,
        fee=revenue.fee,
        net=revenue.net,
        status=LineStatus.COMPLETED,
        attribution=revenue.attribution,
        occurred_at=occurred_at,
    )


def failed_line(failed: PaymentFailed) -> PaymentLine:
    return PaymentLine(
        payment_id=failed.payment_id,
        customer_id=failed.customer_id,
        payment_method=failed.payment_method,
        processor=failed.processor,
        amount=failed.amount,
        status=LineStatus.FAILED,
        failure_reason=failed.failure_reason,
        attribution=Attribution(),
        occurred_at=failed.occurred_at,
    )


def refunded_line(line: PaymentLine, refunded: Decimal) -> PaymentLine:
    """The row once ``refunded`` of its amount has been given back, in all."""
    fully = refunded >= line.amount.amount
    status = LineStatus.REFUNDED if fully else LineStatus.PARTIALLY_REFUNDED
    return line.model_copy(
        update={"status": status, "refunded": Money.of(refunded, line.amount.currency)}
    )
