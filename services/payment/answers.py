"""What a payment's status says outside the service: the event it announces and the HTTP
status a request's answer carries, both with the record as the public may see it."""

from __future__ import annotations

from collections.abc import Mapping

from services.payment.idempotency import Answer
from shared.events.payments import PaymentRecord, PaymentStatus
from shared.events.topics import (
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_INITIATED,
    PAYMENT_REFUNDED,
    PAYMENT_REVIEW_REQUIRED,
)

# The event each status announces; ``processing`` is internal and announces nothing.
ANNOUNCED: Mapping[PaymentStatus, str] = {
    PaymentStatus.PENDING: PAYMENT_INITIATED,
    PaymentStatus.REVIEW: PAYMENT_REVIEW_REQUIRED,
    PaymentStatus.COMPLETED: PAYMENT_COMPLETED,
    PaymentStatus.FAILED: PAYMENT_FAILED,
    PaymentStatus.PARTIALLY_REFUNDED: PAYMENT_REFUNDED,
    PaymentStatus.REFUNDED: PAYMENT_REFUNDED,
}
STATUS_CODES: Mapping[PaymentStatus, int] = {
    PaymentStatus.COMPLETED: 201,
    PaymentStatus.FAILED: 402,  # declined, blocked as fraud, or no processor could take it
    PaymentStatus.REVIEW: 202,  # held: a reviewer decides
    PaymentStatus.PROCESSING: 202,  # the processor has not decided yet
}


def public(payment: PaymentRecord) -> PaymentRecord:
    """The record as events and stored answers carry it: without the request's IP address
    and user agent, which live only encrypted in the payment's own document."""
    metadata = payment.metadata.model_copy(update={"ip_address": None, "user_agent": None})
    return payment.model_copy(update={"metadata": metadata})


def answer_for(payment: PaymentRecord, status_code: int | None = None) -> Answer:
    code = status_code or STATUS_CODES.get(payment.status, 200)
    return Answer(code, public(payment).model_dump(mode="json"))
