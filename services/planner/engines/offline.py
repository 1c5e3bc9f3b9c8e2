"""The offline planning engine: response curves, revenue-maximising allocation, forecast.

Deterministic: the same request and the same history give the same plan. It needs no
network and is the answer whenever a model is not configured or fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from services.planner.allocation import allocate_budget
from services.planner.domain import (
    ChannelObservation,
    EmailAudience,
    PlanningPolicy,
    learned_curves,
    plan_schedule,
)
from services.planner.forecast import Forecast, forecast_revenue
from services.planner.response_curves import ResponseCurve
from shared.events.campaigns import (
    CampaignPlanned,
    CampaignRequested,
    RevenueInterval,
    RoiInterval,
)
from shared.events.common import Channel
from shared.money import Money

ENGINE = "offline"


class OfflinePlanner:
    def __init__(self, policy: PlanningPolicy) -> None:
        self._policy = policy

    def plan(
        self,
        request: CampaignRequested,
        now: datetime,
        history: Sequence[ChannelObservation] = (),
        audience: EmailAudience | None = None,
    ) -> CampaignPlanned:
        curves = learned_curves(self._policy, request.channels, history, audience)
        price = request.product.price
        allocation = allocate_budget(request.budget, curves, price, self._policy.limits)
        forecast = forecast_revenue(allocation, curves, price, request.campaign_id)
        return CampaignPlanned(
            campaign_id=request.campaign_id,
            name=request.name,
            budget=request.budget,
            allocation=allocation,
            product=request.product,
            predicted_revenue=forecast.revenue,
            predicted_roi=round(float(forecast.roi), 4),
            schedule=plan_schedule(request, now, self._policy, audience),
            engine=ENGINE,
            rationale=rationale(allocation, curves, price, forecast, audience),
            predicted_revenue_interval=RevenueInterval(
                low=forecast.revenue_low, high=forecast.revenue_high
            ),
            predicted_roi_interval=RoiInterval(
                low=round(float(forecast.roi_low), 4), high=round(float(forecast.roi_high), 4)
            ),
            predicted_revenue_by_channel=forecast.revenue_by_channel,
        )


def rationale(
    allocation: Mapping[Channel, Money],
    curves: Mapping[Channel, ResponseCurve],
    price: Money,
    forecast: Forecast,
    audience: EmailAudience | None = None,
) -> str:
    """A plain-language account of the plan, every figure taken from the plan itself."""
    parts = []
    for channel, spend in allocation.items():
        curve = curves[channel]
        next_unit = curve.marginal_revenue(float(spend.amount), float(price.amount))
        source = (
            f"learned from {curve.observations} past campaigns"
            if curve.observations
            else "default curve"
        )
        if channel is Channel.EMAIL and audience is not None and audience.reachable > 0:
            source += f", within an audience of {audience.reachable} opted-in customers"
        parts.append(
            f"{channel.value} {spend} -> {forecast.revenue_by_channel[channel]} predicted, "
            f"next unit of spend returns {next_unit:.2f} ({source})"
        )
    return (
        "Budget split to maximise predicted revenue on saturating response curves: "
        + "; ".join(parts)
        + f". Forecast {forecast.revenue} revenue (80% interval {forecast.revenue_low.amount}"
        f" to {forecast.revenue_high.amount}), ROI {forecast.roi:.2f}"
        f" (80% interval {forecast.roi_low:.2f} to {forecast.roi_high:.2f})."
    )
