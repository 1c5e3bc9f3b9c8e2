"""Customer events: the CRM sync into the segmenter and the launcher, and unsubscribes."""

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field, NonNegativeInt, StringConstraints, field_validator

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
    timezone: str | None = Field(
        default=None,
        description="IANA time zone the customer reads email in; without one the launcher "
        "derives it from the country where the country has one zone, else uses UTC.",
        examples=["Europe/Paris"],
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is None:
            return None
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as 'Europe/Paris'") from None
        return zone


class CustomerUnsubscribed(Contract):
    """A customer asked for no more marketing email: honoured by every later send."""

    customer_id: str
    campaign_id: str | None = Field(default=None, description="The email they unsubscribed from.")
    source: Literal["one_click", "link", "complaint"] = Field(
        description="How: the List-Unsubscribe one-click POST, the link in the footer, or a "
        "spam complaint."
    )
    at: AwareDatetime
