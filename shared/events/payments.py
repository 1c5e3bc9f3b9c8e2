"""Payment events: thin, public facts about a payment, separate from the stored record.

Every event names the payment, its campaign and customer, the amount as ``Money``, how it
was paid and through which processor, and the attribution the sale is credited to. A
completed payment adds its fee and net; a refund adds the refund's id and amount. The
record the payment service keeps (its attempts, history, revision, flags, risk signals,
the request's IP address) is its own and never travels.
"""

from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, ConfigDict, Field

from shared.events.common import Channel, Contract
from shared.money import DecimalString, Money


class PaymentMethod(StrEnum):
    CREDIT_CARD = "credit_card"
    DEBIT_CARD = "debit_card"
    PAYPAL = "paypal"
    BITCOIN = "bitcoin"
    ETHEREUM = "ethereum"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    REVIEW = "review"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class RiskLevel(StrEnum):
    LOW = "low"
    REVIEW = "review"
    BLOCK = "block"


class RiskReason(Contract):
    """One signal behind a risk score, in words that name no personal data."""

    signal: str = Field(examples=["token_velocity"])
    contribution: float = Field(ge=0, le=1, examples=[0.35])
    detail: str = Field(examples=["6 payments with this payment token in the last 10 minutes"])


class StatusChange(Contract):
    """One step of a payment's lifecycle, appended and never rewritten."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, serialize_by_alias=True, validate_by_name=True
    )

    from_status: PaymentStatus | None = Field(
        default=None,
        alias="from",
        description="None, and left out of events, for the payment's creation.",
    )
    to: PaymentStatus
    at: AwareDatetime
    reason: str | None = Field(default=None, examples=["card_declined"])
    actor: str = Field(
        description="Who moved it: api, processor, webhook:<processor>, reconciliation, "
        "reviewer:<name>.",
        examples=["processor"],
    )


class AttemptOutcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    PENDING = "pending"  # the processor accepted it; confirmation comes later
    UNAVAILABLE = "unavailable"  # nothing was charged: the next processor is tried
    UNKNOWN = "unknown"  # sent, no answer: reconciliation asks the processor


class ProcessorAttempt(Contract):
    """One call to one processor for a payment."""

    processor: str = Field(examples=["stripe"])
    attempt_key: str = Field(description="The idempotency key the processor was given.")
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    outcome: AttemptOutcome | None = Field(default=None, description="None while in flight.")
    processor_reference: str | None = Field(default=None, examples=["pi_3PqX..."])
    error_code: str | None = Field(default=None, examples=["timeout", "card_declined"])
    latency_ms: float | None = Field(default=None, ge=0)


class RefundStatus(StrEnum):
    PENDING = "pending"  # asked of the processor; counts against what is left to refund
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(Contract):
    id: str = Field(examples=["re_8f14e45f-ceea-467f-a5a8-2b1d0f6c8c0b"])
    amount: DecimalString = Field(examples=["50.00"])
    reason: str | None = Field(default=None, max_length=500, examples=["requested_by_customer"])
    status: RefundStatus
    processor_refund_id: str | None = None
    failure_reason: str | None = None
    created_at: AwareDatetime


class Attribution(Contract):
    """Where the sale came from: the tracking link's segment, channel and variant."""

    segment_id: str | None = Field(default=None, max_length=128)
    channel: Channel | None = None
    variant_id: str | None = Field(default=None, max_length=128)


class ProcessorFees(Contract):
    processor_fee: DecimalString = Field(examples=["4.65"])
    net_amount: DecimalString = Field(examples=["145.34"])
    fee_rate: DecimalString = Field(examples=["0.029"])
    fee_fixed: DecimalString = Field(examples=["0.30"])


class PaymentMetadata(Contract):
    campaign_attribution: str | None = Field(description="The campaign id the sale is credited to.")
    attribution: Attribution = Field(default_factory=Attribution)
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


class PaymentRecord(Contract):
    id: str = Field(examples=["pay_15eac602-c380-4bce-ad05-12ac162a06b4"])
    customer_id: str
    campaign_id: str
    amount: DecimalString = Field(description="Decimal string.", examples=["149.99"])
    currency: str = Field(examples=["USD"])
    payment_method: PaymentMethod
    processor: str = Field(examples=["stripe"])
    processor_transaction_id: str | None = None
    status: PaymentStatus
    failure_reason: str | None = Field(default=None, examples=["card_declined"])
    created_at: AwareDatetime
    processed_at: AwareDatetime | None = None
    metadata: PaymentMetadata
    status_history: list[StatusChange] = Field(
        default_factory=list, description="Every transition, oldest first."
    )
    attempts: list[ProcessorAttempt] = Field(
        default_factory=list, description="Every processor call, in order."
    )
    refunds: list[Refund] = Field(default_factory=list)
    refunded_amount: DecimalString = Field(
        default=Decimal(0), description="Sum of the succeeded refunds.", examples=["0.00"]
    )
    revision: int = Field(
        default=0,
        ge=0,
        description="Bumped by every change: of two copies, the higher revision is newer.",
    )
    flags: list[str] = Field(
        default_factory=list,
        description="Conditions that need a person, e.g. reconciliation_timeout.",
    )


class PaymentEvent(Contract):
    """What every payment event carries."""

    payment_id: str = Field(examples=["pay_15eac602-c380-4bce-ad05-12ac162a06b4"])
    campaign_id: str = Field(description="The campaign the sale is credited to.")
    customer_id: str = Field(examples=["customer_5178"])
    amount: Money = Field(description="What the customer pays (or paid).")
    payment_method: PaymentMethod
    processor: str = Field(
        description="The processor that took it, or the route's first choice before a "
        "processor decided.",
        examples=["stripe"],
    )
    attribution: Attribution = Field(default_factory=Attribution)
    occurred_at: AwareDatetime = Field(description="When the payment reached this state.")


class PaymentInitiated(PaymentEvent):
    """A payment was accepted and scored for risk."""

    risk_level: RiskLevel
    risk_score: float = Field(ge=0, le=1)


class PaymentReviewRequired(PaymentEvent):
    """A payment is held until a reviewer approves or declines it."""

    risk_score: float = Field(ge=0, le=1)
    risk_signals: list[str] = Field(
        default_factory=list,
        description="The signals that raised the score, largest first; names only.",
        examples=[["token_velocity", "country_mismatch"]],
    )


class PaymentCompleted(PaymentEvent):
    """The processor captured the payment."""

    processor_transaction_id: str | None = Field(default=None, examples=["pi_3PqX..."])
    fee: Money = Field(description="The processor's fee for this payment.")
    net: Money = Field(description="amount - fee: what the merchant keeps.")


class PaymentFailed(PaymentEvent):
    """The payment failed: declined, blocked as fraud, or no processor took it."""

    failure_reason: str = Field(examples=["card_declined", "fraud_suspected"])


class PaymentRefunded(PaymentEvent):
    """One refund of a completed payment succeeded; one event per refund."""

    refund_id: str = Field(examples=["re_8f14e45f-ceea-467f-a5a8-2b1d0f6c8c0b"])
    refund_amount: Money = Field(description="What this refund gave back.")
    refunded_total: Money = Field(description="Everything refunded so far, this one included.")
    fee: Money = Field(description="The processor's fee for the payment, as it completed.")
    net: Money = Field(description="amount - fee, as the payment completed.")
    processor_transaction_id: str | None = None
