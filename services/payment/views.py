"""How a payment looks from outside: the view the API answers with and a retry replays.

A view, not the stored record: money is ``Money`` (amount and currency together), the
sealed fields appear only where asked for (``GET /v1/payments/{id}`` decrypts them), and
the revision and stored secrets never leave. Its HTTP status says what the answer means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from services.payment.domain.payment import Payment
from services.payment.domain.records import (
    ProcessorAttempt,
    Refund,
    RefundStatus,
    StatusChange,
)
from services.payment.domain.risk import RiskReason
from shared.events.payments import PaymentMethod, PaymentStatus, RiskLevel
from shared.money import Money

STATUS_CODES: Mapping[PaymentStatus, int] = {
    PaymentStatus.COMPLETED: 201,
    PaymentStatus.FAILED: 402,  # declined, blocked as fraud, or no processor could take it
    PaymentStatus.REVIEW: 202,  # held: a reviewer decides
    PaymentStatus.PROCESSING: 202,  # the processor has not decided yet
}
REFUND_STATUS_CODES: Mapping[RefundStatus, int] = {
    RefundStatus.SUCCEEDED: 201,
    RefundStatus.FAILED: 402,  # the processor refused it
    RefundStatus.PENDING: 202,  # the processor's answer was lost: reconciliation asks
}


class RiskView(BaseModel):
    score: float | None = Field(description="In [0, 1]: 1 - prod(1 - contribution).")
    level: RiskLevel | None
    reasons: list[RiskReason] = Field(description="Each signal that raised the score.")


class RefundView(BaseModel):
    id: str
    amount: Money
    reason: str | None
    status: RefundStatus
    processor_refund_id: str | None
    failure_reason: str | None
    created_at: AwareDatetime


class PaymentView(BaseModel):
    id: str = Field(examples=["pay_15eac602-c380-4bce-ad05-12ac162a06b4"])
    customer_id: str
    campaign_id: str
    amount: Money
    payment_method: PaymentMethod
    processor: str = Field(examples=["stripe"])
    processor_transaction_id: str | None
    status: PaymentStatus
    failure_reason: str | None = Field(examples=["card_declined"])
    created_at: AwareDatetime
    processed_at: AwareDatetime | None
    fee: Money | None = Field(description="The processor's fee; none once failed.")
    net: Money | None = Field(description="amount - fee.")
    click_id: str | None = Field(description="The tracked click the sale came through.")
    risk: RiskView
    refunds: list[RefundView]
    refunded_amount: Money = Field(description="Sum of the succeeded refunds.")
    status_history: list[StatusChange] = Field(description="Every transition, oldest first.")
    attempts: list[ProcessorAttempt] = Field(description="Every processor call, in order.")
    flags: list[str] = Field(description="Conditions that need a person.")
    ip_address: str | None = Field(default=None, description="Only on GET, decrypted.")
    user_agent: str | None = Field(default=None, description="Only on GET, decrypted.")


def view_of(payment: Payment, *, with_request_data: bool = False) -> PaymentView:
    metadata = payment.metadata
    fees = metadata.processor_fees
    return PaymentView(
        id=payment.id,
        customer_id=payment.customer_id,
        campaign_id=payment.campaign_id,
        amount=payment.money,
        payment_method=payment.payment_method,
        processor=payment.processor,
        processor_transaction_id=payment.processor_transaction_id,
        status=payment.status,
        failure_reason=payment.failure_reason,
        created_at=payment.created_at,
        processed_at=payment.processed_at,
        fee=payment.fee if fees else None,
        net=payment.money - payment.fee if fees else None,
        click_id=metadata.click_id,
        risk=RiskView(
            score=metadata.risk_score, level=metadata.risk_level, reasons=metadata.risk_reasons
        ),
        refunds=[_refund_view(payment, refund) for refund in payment.refunds],
        refunded_amount=Money.of(payment.refunded_amount, payment.currency),
        status_history=payment.status_history,
        attempts=payment.attempts,
        flags=payment.flags,
        ip_address=metadata.ip_address if with_request_data else None,
        user_agent=metadata.user_agent if with_request_data else None,
    )


def _refund_view(payment: Payment, refund: Refund) -> RefundView:
    return RefundView(
        id=refund.id,
        amount=Money.of(refund.amount, payment.currency),
        reason=refund.reason,
        status=refund.status,
        processor_refund_id=refund.processor_refund_id,
        failure_reason=refund.failure_reason,
        created_at=refund.created_at,
    )


@dataclass(frozen=True)
class Answer:
    """What a request is answered, and what a retry with its key replays. ``final`` is
    False while the processor has not decided: a retry then gets the payment as it is."""

    status_code: int
    body: dict[str, Any]
    final: bool = True
    replayed: bool = False


def answer_for(payment: Payment, refund_id: str | None = None) -> Answer:
    """The answer to the request that took, reviewed or (``refund_id``) refunded it."""
    body = view_of(payment).model_dump(mode="json")
    if refund_id is not None:
        status = payment.refund(refund_id).status
        return Answer(REFUND_STATUS_CODES[status], body, final=status is not RefundStatus.PENDING)
    code = STATUS_CODES.get(payment.status, 200)
    return Answer(code, body, final=payment.status is not PaymentStatus.PROCESSING)
