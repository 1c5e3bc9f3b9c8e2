"""Payment events: thin, public facts about a payment, separate from the stored record.

Every event names the payment, its campaign and customer, the amount as ``Money``, how it
was paid and through which processor, and the tracked click it came through, if any. A
completed payment adds its fee and net; a refund adds the refund's id and amount. The
record the payment service keeps (its attempts, history, revision, flags, risk signals,
the request's IP address) is its own and never travels.
"""

from enum import StrEnum

from pydantic import AwareDatetime, Field

from shared.events.common import Channel, Contract
from shared.money import Money


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


class Attribution(Contract):
    """Where the sale came from: the tracking link's segment, channel and variant."""

    segment_id: str | None = Field(default=None, max_length=128)
    channel: Channel | None = None
    variant_id: str | None = Field(default=None, max_length=128)


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
    click_id: str | None = Field(
        default=None,
        description="The tracked click the customer came through (the `cid` the storefront "
        "passed): analytics attributes the sale from it, else from the customer's touches.",
    )
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
