"""A completed payment as the report reads it: what it is credited to, the path it came
along, and what it earned less what refunds took back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.analytics.journeys import Touch
from shared.events.payments import Attribution
from shared.money import Money


@dataclass(frozen=True)
class Conversion:
    payment_id: str
    customer_id: str
    campaign_id: str
    processor: str
    paid_at: datetime
    attribution: Attribution
    click_id: str | None
    path: tuple[Touch, ...]
    gross: Money
    fee: Money
    net: Money

    @property
    def attributed(self) -> bool:
        return self.attribution.channel is not None
