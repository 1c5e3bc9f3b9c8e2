"""Campaign planning rules: budget allocation, the conversion model and the schedule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from shared.events.campaigns import CampaignPlanned, CampaignRequested, Schedule
from shared.events.common import Channel
from shared.money import Money, sum_money

ENGINE = "offline"


@dataclass(frozen=True)
class ChannelModel:
    """How a dollar spent on a channel turns into revenue.

    reach = spend / CPM x 1000; purchases = reach x conversion rate; revenue = purchases x price.
    """

    weight: Decimal
    cpm: Decimal
    conversion_rate: Decimal

    def reach(self, spend: Money) -> Decimal:
        return spend.amount / self.cpm * 1000

    def revenue(self, spend: Money, price: Money) -> Money:
        return price.times(self.reach(spend) * self.conversion_rate)


@dataclass(frozen=True)
class PlanningPolicy:
    channels: Mapping[Channel, ChannelModel]
    default_duration: timedelta


def allocate_budget(
    budget: Money, channels: list[Channel], policy: PlanningPolicy
) -> dict[Channel, Money]:
    """Split ``budget`` over the requested channels by weight, exact to the minor unit."""
    parts = budget.allocate([policy.channels[c].weight for c in channels])
    return dict(zip(channels, parts, strict=True))


def plan_schedule(request: CampaignRequested, now: datetime, policy: PlanningPolicy) -> Schedule:
    starts_at = request.starts_at or now
    ends_at = request.ends_at or starts_at + policy.default_duration
    return Schedule(starts_at=starts_at, ends_at=ends_at)


def plan_campaign(
    request: CampaignRequested, now: datetime, policy: PlanningPolicy
) -> CampaignPlanned:
    allocation = allocate_budget(request.budget, request.channels, policy)
    price = request.product.price
    revenue = sum_money(
        [policy.channels[c].revenue(spend, price) for c, spend in allocation.items()],
        request.budget.currency,
    )
    roi = (revenue.amount - request.budget.amount) / request.budget.amount
    return CampaignPlanned(
        campaign_id=request.campaign_id,
        name=request.name,
        budget=request.budget,
        allocation={c: spend.amount for c, spend in allocation.items()},
        product=request.product,
        predicted_revenue=revenue,
        predicted_roi=round(float(roi), 4),
        schedule=plan_schedule(request, now, policy),
        engine=ENGINE,
        rationale=_rationale(allocation, revenue, roi, policy),
    )


def _rationale(
    allocation: Mapping[Channel, Money], revenue: Money, roi: Decimal, policy: PlanningPolicy
) -> str:
    shares = ", ".join(
        f"{channel.value} {spend} (CPM {policy.channels[channel].cpm}, "
        f"{policy.channels[channel].conversion_rate:.4%} conversion)"
        for channel, spend in allocation.items()
    )
    return (
        f"Budget split by channel weight: {shares}. "
        f"Forecast {revenue} revenue, ROI {roi:.2f}x the spend over break-even."
    )
