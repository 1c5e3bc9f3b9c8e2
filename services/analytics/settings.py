"""Analytics configuration: the report API's port and key, and how often performance is
published."""

from pydantic import Field

from shared.settings import ReportingSettings


class AnalyticsSettings(ReportingSettings):
    analytics_api_port: int = Field(default=8001, ge=1, le=65535)
    analytics_performance_interval_seconds: float = Field(
        default=300,
        gt=0,
        le=86_400,
        description="How often campaign.performance is emitted for campaigns that changed.",
    )
