"""What a payment keeps about itself besides its amount and status: the audit trail of its
transitions, every processor attempt, every refund, its fees and where the sale came from.

These are the payment service's own records, in the stored document's shape. None of them
travels in an event: the public payment events are in ``shared.events.payments``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.payment.domain.risk import RiskReason
from shared.events.payments import PaymentStatus, RiskLevel
from shared.money import DecimalString


class Record(BaseModel):
    """Validated on every change: a record can only hold what its fields allow."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class StatusChange(Record):
    """One step of a payment's lifecycle, appended and never rewritten."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, serialize_by_alias=True, validate_by_name=True
    )

    from_status: PaymentStatus | None = Field(
        default=None, alias="from", description="None for the payment's creation."
    )
    to: PaymentStatus
    at: AwareDatetime
    reason: str | None = Field(default=None, examples=["card_declined"])
    actor: str = Field(
        description="Who moved it: api, risk, processor, webhook:<processor>, "
        "reconciliation, reviewer:<name>.",
        examples=["processor"],
    )


class AttemptOutcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    PENDING = "pending"  # the processor accepted it; confirmation comes later
    UNAVAILABLE = "unavailable"  # nothing was charged: the next processor is tried
    UNKNOWN = "unknown"  # sent, no answer: reconciliation asks the processor


class ProcessorAttempt(Record):
    """One call to one processor for a payment; sent again under the same key if needed."""

    processor: str = Field(examples=["stripe"])
    attempt_key: str = Field(description="The idempotency key the processor was given.")
    started_at: AwareDatetime = Field(description="When it was last sent.")
    first_sent_at: AwareDatetime | None = Field(
        default=None, description="When the key was first used: the processor's window starts."
    )
    finished_at: AwareDatetime | None = None
    outcome: AttemptOutcome | None = Field(default=None, description="None while in flight.")
    processor_reference: str | None = Field(default=None, examples=["pi_3PqX..."])
    error_code: str | None = Field(default=None, examples=["timeout", "card_declined"])
    latency_ms: float | None = Field(default=None, ge=0)

    @property
    def in_flight(self) -> bool:
        return self.outcome is None

    @property
    def key_first_used_at(self) -> datetime:
        return self.first_sent_at or self.started_at


class RefundStatus(StrEnum):
    PENDING = "pending"  # reserved; asked of the processor or about to be
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(Record):
    """A refund, reserved before the processor is asked, so it counts against what is left
    to refund until the processor's answer releases or confirms it."""

    id: str = Field(examples=["re_8f14e45f-ceea-467f-a5a8-2b1d0f6c8c0b"])
    amount: DecimalString = Field(examples=["50.00"])
    reason: str | None = Field(default=None, max_length=500, examples=["requested_by_customer"])
    status: RefundStatus
    processor_refund_id: str | None = None
    failure_reason: str | None = None
    error_code: str | None = Field(
        default=None, description="Why the last ask got no answer (the refund stays pending)."
    )
    created_at: AwareDatetime
    finished_at: AwareDatetime | None = None


class ProcessorFees(Record):
    processor_fee: DecimalString = Field(examples=["4.65"])
    net_amount: DecimalString = Field(examples=["145.34"])
    fee_rate: DecimalString = Field(examples=["0.029"])
    fee_fixed: DecimalString = Field(examples=["0.30"])


class PaymentMetadata(Record):
    campaign_attribution: str | None = Field(
        default=None, description="The campaign id the sale is credited to."
    )
    click_id: str | None = Field(
        default=None, description="The tracked click the sale came through, if any."
    )
    processor_fees: ProcessorFees | None = None
    ip_address: str | None = Field(
        default=None, description="Encrypted at rest; never in events or logs."
    )
    user_agent: str | None = Field(
        default=None, description="Encrypted at rest; never in events or logs."
    )
    risk_score: float | None = Field(default=None, ge=0, le=1)
    risk_level: RiskLevel | None = None
    risk_reasons: list[RiskReason] = Field(
        default_factory=list, description="Each signal behind risk_score and its contribution."
    )
