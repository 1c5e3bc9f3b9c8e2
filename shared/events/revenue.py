"""Revenue events: one per completed payment, carrying its attribution."""

from pydantic import AwareDatetime

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
