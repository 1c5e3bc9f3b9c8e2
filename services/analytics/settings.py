"""Analytics configuration: the report API's port and key, how often performance is
published, and how sales are attributed."""

from datetime import timedelta

from pydantic import Field

from services.analytics.attribution.rule import AttributionPolicy
from services.analytics.dashboard.settings import DashboardSettings


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

    @property
    def attribution_policy(self) -> AttributionPolicy:
        return AttributionPolicy(
            lookback=timedelta(days=self.analytics_lookback_days),
            click_grace=timedelta(seconds=self.analytics_click_grace_seconds),
        )

    @property
    def time_decay_half_life(self) -> timedelta:
        return timedelta(days=self.analytics_time_decay_half_life_days)
