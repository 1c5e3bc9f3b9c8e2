"""Customer events: the CRM sync into the segmenter."""

from typing import Annotated

from pydantic import AwareDatetime, Field, NonNegativeInt, StringConstraints

from shared.events.common import Contract
from shared.money import Money


class CustomerUpserted(Contract):
    customer_id: str = Field(min_length=1, max_length=128, examples=["customer_5178"])
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", examples=["ana@example.com"])
    first_name: str | None = Field(default=None, examples=["Ana"])
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2.", examples=["US"]
    )
    email_opt_in: bool = Field(description="Consent to marketing email.")
    created_at: AwareDatetime
    last_purchase_at: AwareDatetime | None = None
    orders_count: NonNegativeInt = 0
    total_spent: Money
    last_engaged_at: AwareDatetime | None = Field(
        default=None, description="Last open, click or visit."
    )
