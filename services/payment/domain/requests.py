"""What clients ask of the payment service: take a payment, decide a held one, refund one.

Validated at the edge, before anything is stored: a bad field is refused naming it. Money
is one value, amount and currency together, a decimal string and never a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.events.common import CampaignId
from shared.events.payments import Attribution, PaymentMethod
from shared.money import Money


def _positive(amount: Money) -> Money:
    if not amount.is_positive():
        raise ValueError("must be greater than 0")
    return amount


class CreatePayment(BaseModel):
    """A customer's payment for a campaign's product."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str = Field(min_length=1, max_length=128, examples=["customer_5178"])
    campaign_id: CampaignId
    amount: Money = Field(
        description="Greater than zero, at most the currency's minor unit.",
        examples=[{"amount": "149.99", "currency": "USD"}],
    )
    payment_method: PaymentMethod
    payment_token: str = Field(
        min_length=1,
        max_length=255,
        description="The processor's token for the instrument; card numbers never reach us.",
        examples=["pm_card_visa"],
    )
    click_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `cid` the landing page received from a tracked link: the sale is "
        "attributed to what that click came from. Attribution is never taken from the body.",
        examples=["clk_8f14e45fceea467fa5a82b1d0f6c8c0b"],
    )
    attribution: Attribution | None = Field(
        default=None,
        json_schema_extra={"deprecated": True},
        description="Accepted from older storefronts and checked, then ignored: the record and "
        "events take attribution only from the journey.",
    )
    customer_country: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166 alpha-2, when the shop knows it; compared with the IP's country.",
        examples=["US"],
    )

    _amount_is_positive = field_validator("amount")(_positive)


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: Literal["approve", "decline"]
    reviewer: str = Field(min_length=1, max_length=128, examples=["risk-team@shop.example"])
    reason: str | None = Field(default=None, max_length=500)


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: Money | None = Field(
        default=None,
        description="In the payment's currency; absent refunds everything left.",
        examples=[{"amount": "50.00", "currency": "USD"}],
    )
    reason: str | None = Field(default=None, max_length=500, examples=["requested_by_customer"])

    @field_validator("amount")
    @classmethod
    def _positive_amount(cls, amount: Money | None) -> Money | None:
        return None if amount is None else _positive(amount)


@dataclass(frozen=True)
class RequestContext:
    """Where the request came from: recorded encrypted, used for risk, never logged."""

    ip_address: str | None
    user_agent: str | None
    ip_country: str | None = None
