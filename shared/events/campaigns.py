"""Campaign events, from the client's request to the launch and its performance."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import (
    AwareDatetime,
    Field,
    NonNegativeInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.events.common import CampaignId, Channel, Contract, FieldError
from shared.money import DecimalString, Money


class Product(Contract):
    sku: str = Field(min_length=1, max_length=64, examples=["SKU-HEADPHONES-01"])
    name: str = Field(min_length=1, max_length=200, examples=["Noise-cancelling headphones"])
    price: Money


class CampaignRequested(Contract):
    campaign_id: CampaignId
    name: str = Field(min_length=1, max_length=200, examples=["Spring sale"])
    budget: Money = Field(description="Greater than zero.")
    channels: list[Channel] = Field(min_length=1, description="Non-empty, no repeats.")
    product: Product
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    send_in_local_windows: bool = Field(
        default=True,
        description="Send email only in the plan's windows, in each recipient's local time; "
        "false sends at once (the 'send now' of marketing tools).",
    )

    @field_validator("budget")
    @classmethod
    def _positive_budget(cls, budget: Money) -> Money:
        if not budget.is_positive():
            raise ValueError("must be greater than 0")
        return budget

    @field_validator("channels")
    @classmethod
    def _distinct_channels(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise ValueError("must not repeat a channel")
        return channels

    @field_validator("product")
    @classmethod
    def _priced_in_budget_currency(cls, product: Product, info: ValidationInfo) -> Product:
        budget = info.data.get("budget")
        if not product.price.is_positive():
            raise ValueError("price must be greater than 0")
        if budget is not None and product.price.currency != budget.currency:
            raise ValueError(f"price must be in the budget's currency ({budget.currency})")
        return product

    @field_validator("ends_at")
    @classmethod
    def _ends_after_start(cls, ends_at: datetime | None, info: ValidationInfo) -> datetime | None:
        starts_at = info.data.get("starts_at")
        if ends_at is not None and starts_at is not None and ends_at <= starts_at:
            raise ValueError("must be after starts_at")
        return ends_at


class CampaignRejected(Contract):
    campaign_id: str = Field(description="As sent, even when it was itself invalid.")
    errors: list[FieldError]


type Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class SendWindow(Contract):
    """Hours of one weekday, in the recipient's local time, when a channel should send."""

    weekday: Weekday
    start_hour: int = Field(ge=0, le=23, examples=[9])
    end_hour: int = Field(ge=1, le=24, examples=[11], description="Exclusive; after start_hour.")
    timezone: str = Field(
        default="local",
        description="'local': the recipient's own time; otherwise an IANA zone, e.g. UTC.",
        examples=["local", "UTC"],
    )


class Schedule(Contract):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    send_windows: dict[Channel, list[SendWindow]] | None = Field(
        default=None, description="Per requested channel, when to send; absent means any time."
    )
    send_in_local_windows: bool = Field(
        default=True, description="False: send at once, whatever the windows say."
    )


class RevenueInterval(Contract):
    low: Money
    high: Money


class RoiInterval(Contract):
    low: float
    high: float


class CampaignPlanned(Contract):
    campaign_id: CampaignId
    name: str
    budget: Money
    allocation: dict[Channel, Money] = Field(
        description="Channel -> amount in the budget's currency; only requested channels; "
        "sums exactly to the budget.",
        examples=[
            {
                "email": {"amount": "20000.00", "currency": "USD"},
                "social": {"amount": "17500.00", "currency": "USD"},
                "web": {"amount": "12500.00", "currency": "USD"},
            }
        ],
    )
    product: Product
    predicted_revenue: Money
    predicted_roi: float = Field(description="(predicted revenue - budget) / budget.")
    schedule: Schedule
    engine: str = Field(examples=["offline"])
    rationale: str
    predicted_revenue_interval: RevenueInterval | None = Field(
        default=None, description="80% interval around predicted_revenue."
    )
    predicted_roi_interval: RoiInterval | None = Field(
        default=None, description="80% interval around predicted_roi."
    )
    predicted_revenue_by_channel: dict[Channel, Money] | None = Field(
        default=None, description="Channel -> predicted revenue, in the budget's currency."
    )
    ai_cost: DecimalString | None = Field(
        default=None,
        description="US dollars spent on model calls for this step, unrounded; 0 offline.",
        examples=["0.0124"],
    )

    @field_validator("allocation", "predicted_revenue_by_channel")
    @classmethod
    def _in_budget_currency(
        cls, amounts: dict[Channel, Money] | None, info: ValidationInfo
    ) -> dict[Channel, Money] | None:
        budget = info.data.get("budget")
        for channel, amount in (amounts or {}).items():
            if budget is not None and amount.currency != budget.currency:
                raise ValueError(
                    f"{channel.value} is in {amount.currency}; "
                    f"use the budget's currency ({budget.currency})"
                )
        return amounts


class ConversionInterval(Contract):
    low: float = Field(ge=0, le=1, examples=[0.031])
    high: float = Field(ge=0, le=1, examples=[0.052])


class Segment(Contract):
    segment_id: str = Field(examples=["high_value"])
    name: str = Field(examples=["High-value customers"])
    size: NonNegativeInt
    predicted_conversion_rate: float = Field(
        ge=0, le=1, description="The posterior mean: feature-based prior updated by history."
    )
    email_reachable: NonNegativeInt = Field(
        default=0, description="Members who opted in to marketing email."
    )
    description: str | None = Field(
        default=None,
        description="The segment's traits in words.",
        examples=["bought 12 days ago on average, 6.0 orders, 540.00 USD spent (median)"],
    )
    strategy: str | None = Field(
        default=None, description="How to approach the segment, when an engine proposed one."
    )
    predicted_conversion_interval: ConversionInterval | None = Field(
        default=None, description="80% credible interval around predicted_conversion_rate."
    )


class DecidedByAnEngine(Contract):
    """The output of an AI step: which engine produced it and what its model calls cost."""

    engine: str | None = Field(
        default=None,
        description="What produced it: openai:<model>, anthropic:<model>, offline or "
        "offline-fallback.",
        examples=["offline"],
    )
    ai_cost: DecimalString | None = Field(
        default=None,
        description="US dollars spent on model calls for this step, unrounded; 0 offline.",
        examples=["0.0124"],
    )


HOURS_IN_A_WEEK = 168


class CampaignSegmented(DecidedByAnEngine):
    campaign_id: CampaignId
    total_customers: NonNegativeInt
    segments: list[Segment]
    engagement_by_hour: list[NonNegativeInt] | None = Field(
        default=None,
        min_length=HOURS_IN_A_WEEK,
        max_length=HOURS_IN_A_WEEK,
        description="Customers whose last open, click or visit fell in each hour of the week, "
        "in UTC: index weekday x 24 + hour, Monday 00:00 first. Counts only, no one named.",
    )


class ContentPiece(Contract):
    segment_id: str
    channel: Channel
    variant_id: str = Field(examples=["high_value-email-a"])
    subject: str | None = Field(default=None, description="Email subject line.")
    headline: str | None = Field(default=None, description="Social or web headline.")
    preheader: str | None = Field(
        default=None, description="Email preview text shown after the subject."
    )
    body: str
    call_to_action: str | None = Field(
        default=None, description="The button or link text.", examples=["Shop now"]
    )
    dimension: str | None = Field(
        default=None,
        description="What the variant tests against its siblings.",
        examples=["value", "urgency", "social_proof"],
    )
    cta_url: str = Field(description="Tracking link carrying campaign, segment, channel, variant.")


class CampaignContentGenerated(DecidedByAnEngine):
    campaign_id: CampaignId
    content: list[ContentPiece]


class AudienceMember(Contract):
    customer_id: str
    segment_id: str


class CampaignAudience(Contract):
    """One chunk of a campaign's membership: who is in which segment. A launch waits for
    every chunk (``chunk`` counts from 0 to ``chunks - 1``)."""

    campaign_id: CampaignId
    chunk: NonNegativeInt
    chunks: int = Field(ge=1)
    members: list[AudienceMember]


class AdSetLaunched(Contract):
    ad_set_id: str
    channel: Channel
    segment_id: str
    variant_id: str
    budget: Money
    bid: Money = Field(description="The maximum bid per thousand impressions.")


class CampaignLaunched(Contract):
    """The campaign went live: who is reached, who was skipped and why, what was bought."""

    campaign_id: CampaignId
    reach: dict[Channel, NonNegativeInt] = Field(
        description="People per channel: email recipients sent or scheduled; for ads, the "
        "people the platform reports (impressions are counted apart)."
    )
    total_reach: NonNegativeInt
    launched_at: datetime
    messages_accepted: NonNegativeInt = Field(
        default=0, description="Emails the recipients' servers accepted so far."
    )
    scheduled: NonNegativeInt = Field(
        default=0,
        description="Emails waiting for a send window in the recipient's local time, or "
        "queued for a later email wave.",
    )
    skipped: dict[str, NonNegativeInt] = Field(
        default_factory=dict,
        description="People sent nothing, by reason: no_consent, suppressed, frequency_capped, "
        "no_address.",
        examples=[{"no_consent": 412, "frequency_capped": 9}],
    )
    held_out: NonNegativeInt = Field(
        default=0, description="People kept out to measure the campaign's lift."
    )
    impressions: dict[Channel, NonNegativeInt] = Field(default_factory=dict)
    ad_sets: list[AdSetLaunched] = Field(default_factory=list)


class ProcessorShare(Contract):
    processor: str
    count: NonNegativeInt
    gross: Money


class TotalsInCurrency(Contract):
    """A campaign's payments in one currency: summed as paid, never converted."""

    currency: str = Field(description="ISO 4217 code of every amount here.", examples=["EUR"])
    gross: Money = Field(description="Completed payments' amounts, less what was refunded.")
    fees: Money = Field(description="Processor fees, less the refunded payments' share.")
    net: Money = Field(description="gross - fees.")
    payments_completed: NonNegativeInt
    refunded: Money = Field(description="Refunded so far; already taken out of gross and net.")

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        for name in ("gross", "fees", "net", "refunded"):
            amount: Money = getattr(self, name)
            if amount.currency != self.currency:
                raise ValueError(f"{name} is in {amount.currency}, not {self.currency}")
        return self


class CampaignPerformance(Contract):
    campaign_id: CampaignId
    as_of: AwareDatetime
    gross_revenue: Money = Field(
        description="In the budget's currency (before the plan, the first currency paid in); "
        "payments in other currencies are in other_currencies."
    )
    fees: Money
    net_revenue: Money
    payments_completed: NonNegativeInt = Field(description="In every currency.")
    payments_failed: NonNegativeInt
    success_rate: float = Field(ge=0, le=1)
    average_transaction: Money = Field(
        description="gross_revenue / the completed payments in its currency."
    )
    processor_mix: list[ProcessorShare] = Field(
        description="The payments in gross_revenue's currency, per processor, largest first."
    )
    reach: NonNegativeInt
    spend: Money | None = Field(
        default=None,
        description="The planned budget, plus the AI cost when the campaign is in USD.",
    )
    roi: float | None = Field(default=None, description="(net revenue - spend) / spend.")
    ai_cost: DecimalString | None = Field(
        default=None,
        description="US dollars spent on model calls planning, segmenting and writing for "
        "the campaign, unrounded.",
        examples=["0.0412"],
    )
    conversion_rate: float | None = Field(default=None, description="Completed payments / reach.")
    revenue_by_channel: dict[Channel, Money] | None = Field(
        default=None,
        description="Gross revenue attributed to each channel (last touch, net of refunds), "
        "in gross_revenue's currency: every planned channel, zero where nothing was "
        "attributed; organic sales count in no channel. Absent before a plan or a sale.",
    )
    net_revenue_by_channel: dict[Channel, Money] | None = Field(
        default=None,
        description="The same, net of processor fees: what each channel earned the campaign.",
    )
    refunds: Money | None = Field(
        default=None,
        description="Refunded so far; gross_revenue, fees and net_revenue are already net of it.",
    )
    other_currencies: list[TotalsInCurrency] | None = Field(
        default=None,
        description="Payments in currencies other than gross_revenue's, per currency, sorted "
        "by currency and never converted; absent when there are none.",
    )


__all__ = [
    "AdSetLaunched",
    "AudienceMember",
    "CampaignAudience",
    "CampaignContentGenerated",
    "CampaignLaunched",
    "CampaignPerformance",
    "CampaignPlanned",
    "CampaignRejected",
    "CampaignRequested",
    "CampaignSegmented",
    "ContentPiece",
    "ConversionInterval",
    "FieldError",
    "ProcessorShare",
    "Product",
    "RevenueInterval",
    "RoiInterval",
    "Schedule",
    "Segment",
    "SendWindow",
    "TotalsInCurrency",
]
