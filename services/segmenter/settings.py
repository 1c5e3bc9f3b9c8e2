"""Segmenter configuration: the naming engine, segment thresholds and how customers are read."""

from pydantic import Field

from shared.ai.settings import AiSettings, Engine


class SegmenterSettings(AiSettings):
    segmenter_health_port: int = Field(default=8011, ge=1, le=65535)
    segmenter_engine: Engine = Field(
        default="anthropic",
        description="Names and describes the computed segments: openai, anthropic or offline; "
        "a provider without its API key is offline.",
    )
    segmenter_at_risk_after_days: int = Field(
        default=90, ge=1, le=3650, description="Days without a purchase before a buyer is at risk."
    )
    segmenter_engaged_within_days: int = Field(
        default=30, ge=1, le=3650, description="Days since the last open, click or visit."
    )
    segmenter_read_batch_size: int = Field(
        default=1000, ge=1, le=100_000, description="Customers per database round trip."
    )
    segmenter_min_customers_for_clustering: int = Field(
        default=50, ge=2, description="Below this many customers, rules segment instead of k-means."
    )
