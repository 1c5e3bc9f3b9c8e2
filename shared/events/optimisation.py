"""Optimisation events: what each cycle measured and decided while a campaign runs.

Every ``OPTIMISER_INTERVAL_SECONDS`` analytics evaluates each live campaign
(``campaign.evaluated``): per arm (segment x channel x variant) what it reached and earned,
an A/B verdict per segment x channel with the traffic weights for the next wave, and per
channel what was spent and earned. The planner answers with ``campaign.reallocated`` (the
remaining budget, re-planned); the launcher applies the weights to its next email wave and
adjusts its ad sets' bids and budgets (``ads.adjusted``).
"""

from __future__ import annotations

from pydantic import AwareDatetime, Field, NonNegativeInt

from shared.events.campaigns import DecidedByAnEngine
from shared.events.common import CampaignId, Channel, Contract
from shared.money import Money


class ArmFigures(Contract):
    """One arm of a test: a variant shown to a segment on a channel."""

    segment_id: str
    channel: Channel
    variant_id: str
    exposures: NonNegativeInt = Field(
        description="People emailed (email) or tracked clicks (ads): the conversion base."
    )
    conversions: NonNegativeInt = Field(description="Never more than exposures.")
    net: Money = Field(description="Net revenue credited to the arm, after fees and refunds.")


class UpliftFigures(Contract):
    """A variant's relative uplift over the control: the posterior's summary."""

    mean: float
    low: float = Field(description="Lower end of the 95% credible interval.")
    high: float = Field(description="Upper end of the 95% credible interval.")
    chance_to_win: float = Field(ge=0, le=1)
    risk_of_shipping: float = Field(ge=0, description="Expected loss of choosing the variant.")
    risk_of_keeping: float = Field(ge=0, description="Expected loss of keeping the control.")


class VariantFigures(Contract):
    variant_id: str
    conversion: UpliftFigures | None = Field(
        default=None, description="None for the control, or while the control has no data."
    )
    revenue: UpliftFigures | None = Field(
        default=None, description="Uplift of net revenue per exposure."
    )


class ExperimentVerdict(Contract):
    """The A/B verdict of one segment x channel, and the traffic weights it sets."""

    segment_id: str
    channel: Channel
    control: str = Field(description="The variant the others are compared with.")
    variants: list[VariantFigures]
    srm_p_value: float = Field(ge=0, le=1)
    sample_ratio_mismatch: bool = Field(
        description="Assignment counts do not fit the weights: decisions are frozen."
    )
    winner: str | None = Field(
        default=None, description="Declared past the minimum sample and under the loss threshold."
    )
    reason: str = Field(description="Why there is, or is not yet, a winner.")
    weights: dict[str, float] = Field(
        description="Share of the next wave per variant, summing to 1; the winner's 1 when "
        "declared; unchanged while frozen."
    )


class ChannelFigures(Contract):
    channel: Channel
    spend: Money
    net: Money = Field(description="Net revenue attributed to the channel.")
    conversions: NonNegativeInt
    clicks: NonNegativeInt
    marginal_roas: float | None = Field(
        default=None,
        description="Net revenue per unit of spend added since the previous cycle; None "
        "before there are two cycles with spend.",
    )


class CampaignEvaluated(Contract):
    campaign_id: CampaignId
    cycle: NonNegativeInt = Field(description="0 for the first evaluation, then one more each.")
    as_of: AwareDatetime
    arms: list[ArmFigures]
    experiments: list[ExperimentVerdict]
    channels: list[ChannelFigures]


class CampaignReallocated(DecidedByAnEngine):
    """The planner's new split of the budget that is left; the rationale is the model's (or
    the offline engine's) and quotes only numbers this event holds."""

    campaign_id: CampaignId
    cycle: NonNegativeInt = Field(description="The campaign.evaluated cycle it answers.")
    as_of: AwareDatetime
    previous: dict[Channel, Money] = Field(description="The allocation before this cycle.")
    allocation: dict[Channel, Money] = Field(
        description="The new allocation: spent so far plus the new share of what is left."
    )
    spent: dict[Channel, Money]
    remaining: Money = Field(description="Budget not yet spent when the cycle began.")
    reasons: list[str] = Field(description="The guardrails and observations behind each shift.")
    rationale: str


class AdSetAdjusted(Contract):
    """A bid or budget change on one ad set, with the controller's reason."""

    campaign_id: CampaignId
    ad_set_id: str
    channel: Channel
    segment_id: str
    variant_id: str
    bid_before: Money
    bid: Money
    budget_before: Money
    budget: Money
    controller: str = Field(examples=["target_cpa", "target_roas", "pacing", "reallocation"])
    reason: str
    at: AwareDatetime


__all__ = [
    "AdSetAdjusted",
    "ArmFigures",
    "CampaignEvaluated",
    "CampaignReallocated",
    "ChannelFigures",
    "ExperimentVerdict",
    "UpliftFigures",
    "VariantFigures",
]
