"""Payment events. Their ``data`` is the payment record, in the stored record's shape."""

from enum import StrEnum

from pydantic import AwareDatetime, Field

from shared.events.common import Channel, Contract
from shared.money import DecimalString


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
    ip_address: str | None = None
    user_agent: str | None = None
    risk_score: float | None = Field(default=None, ge=0, le=1)


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
