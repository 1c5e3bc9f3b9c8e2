"""Analytics configuration: the report API's port and key, how often performance is
published, how sales are attributed, and the optimisation cycle."""

from datetime import timedelta

from pydantic import Field

from services.analytics.attribution.rule import AttributionPolicy
from services.analytics.dashboard.settings import DashboardSettings
from services.analytics.evaluation import OptimiserPolicy


class AnalyticsSettings(DashboardSettings):  # the report API's settings and the dashboard's
    analytics_api_port: int = Field(default=8001, ge=1, le=65535)
    analytics_performance_interval_seconds: float = Field(
        default=300,
        gt=0,
        le=86_400,
        description="How often campaign.performance is emitted for campaigns that changed.",
    )
    analytics_lookback_days: float = Field(
        default=7,
        gt=0,
        le=90,
        description="How long before a payment a send or click may still be credited with it; "
        "also the window in which the lift counts a conversion after the email.",
    )
    analytics_click_grace_seconds: float = Field(
        default=30,
        ge=0,
        le=3600,
        description="How long a payment naming a click not seen yet waits for it before it "
        "is credited without it; 0 waits not at all.",
    )
    analytics_time_decay_half_life_days: float = Field(
        default=7,
        gt=0,
        le=90,
        description="The time-decay model's half-life: a touch this much older than the sale "
        "gets half the credit.",
    )
    optimiser_interval_seconds: float = Field(
        default=300,
        gt=0,
        le=86_400,
        description="How often each live campaign is evaluated (campaign.evaluated).",
    )
    optimiser_loss_threshold: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="The leading variant wins once its expected loss is under this (and it "
        "has the minimum conversions and a 95% chance to win): the expected relative "
        "shortfall in conversion rate against each other variant (0.05 = 5% of its rate), "
        "as services/analytics/experiments.py computes it.",
    )
    optimiser_min_conversions: int = Field(
        default=150,
        ge=1,
        description="GrowthBook's minimum sample for a conversion metric: a winner may be "
        "declared only once the leading variant has this many conversions (and every rival "
        "at least one). GrowthBook's default is 150.",
    )
    optimiser_exploration_floor: float = Field(
        default=0.1,
        ge=0,
        le=0.5,
        description="The least share of each wave every live variant keeps while no winner "
        "is declared; with more variants than 1 / floor, each keeps an equal share instead.",
    )

    @property
    def optimiser_policy(self) -> OptimiserPolicy:
        return OptimiserPolicy(
            min_conversions=self.optimiser_min_conversions,
            loss_threshold=self.optimiser_loss_threshold,
            exploration_floor=self.optimiser_exploration_floor,
        )

    @property
    def attribution_policy(self) -> AttributionPolicy:
        return AttributionPolicy(
            lookback=timedelta(days=self.analytics_lookback_days),
            click_grace=timedelta(seconds=self.analytics_click_grace_seconds),
        )

    @property
    def time_decay_half_life(self) -> timedelta:
        return timedelta(days=self.analytics_time_decay_half_life_days)
