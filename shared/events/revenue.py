"""Revenue events: one per completed payment, carrying its attribution."""

from pydantic import AwareDatetime, Field

from shared.events.common import Contract
from shared.events.payments import Attribution, PaymentMethod
from shared.money import Money


class RevenueRecorded(Contract):
    campaign_id: str
    payment_id: str
    customer_id: str
    processor: str
    payment_method: PaymentMethod
    gross: Money
    fee: Money
    net: Money
    recorded_at: AwareDatetime
    attribution: Attribution
    click_id: str | None = Field(
        default=None, description="The tracked click the attribution rests on, if any."
    )


class RevenueReversed(Contract):
    """A refund taking back part of a payment's revenue: the refunded share of its gross,
    fee and net, so the campaign's net revenue stays true. One per refund."""

    campaign_id: str
    payment_id: str
    refund_id: str
    customer_id: str
    processor: str
    payment_method: PaymentMethod
    gross: Money = Field(description="The amount refunded; positive, subtracted from revenue.")
    fee: Money = Field(description="The refunded share of the processor fee.")
    net: Money = Field(description="gross - fee: what the campaign's net revenue loses.")
    reversed_at: AwareDatetime
    attribution: Attribution
    click_id: str | None = None
