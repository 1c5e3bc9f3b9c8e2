"""Where ``campaignctl`` finds the system, and the keys it sends: the same environment
variables the services read."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import (
    DEV_ONLY_ANALYTICS_API_KEY,
    DEV_ONLY_PAYMENT_API_KEY,
    Environment,
    KafkaClientSettings,
    refuse_dev_secrets,
)


class CliSettings(KafkaClientSettings):
    """The cluster's address and security (``KAFKA_*``) as the services read them, the APIs'
    addresses and the keys to send."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Environment = Field(
        default="local", description="'local' sends the development-only keys by default."
    )
    mongodb_url: str = Field(default="mongodb://localhost:27017", pattern=r"^mongodb(\+srv)?://")
    payment_api_port: int = Field(default=8000, ge=1, le=65535)
    payment_api_url: str | None = Field(
        default=None, description="Overrides http://127.0.0.1:<PAYMENT_API_PORT>."
    )
    payment_api_key: SecretStr = Field(default=SecretStr(DEV_ONLY_PAYMENT_API_KEY), min_length=1)
    analytics_api_key: SecretStr = Field(
        default=SecretStr(DEV_ONLY_ANALYTICS_API_KEY),
        min_length=1,
        description="Sent to analytics, and to the decision logs and customer count.",
    )
    analytics_api_port: int = Field(default=8001, ge=1, le=65535)
    analytics_api_url: str | None = Field(
        default=None, description="Overrides http://127.0.0.1:<ANALYTICS_API_PORT>."
    )
    planner_health_port: int = Field(default=8010, ge=1, le=65535)
    segmenter_health_port: int = Field(default=8011, ge=1, le=65535)
    content_health_port: int = Field(default=8012, ge=1, le=65535)
    launcher_api_port: int = Field(default=8013, ge=1, le=65535)
    smtp_sink_http_port: int = Field(
        default=8026, ge=1, le=65535, description="The local SMTP sink's messages (the demo)."
    )

    @model_validator(mode="after")
    def _no_dev_keys_outside_local(self) -> Self:
        refuse_dev_secrets(
            self.environment,
            {
                "payment_api_key": self.payment_api_key.get_secret_value(),
                "analytics_api_key": self.analytics_api_key.get_secret_value(),
            },
        )
        return self

    @property
    def reporting_headers(self) -> dict[str, str]:
        """What the reporting reads need: analytics, the decision logs, the customer count."""
        return {"Authorization": f"Bearer {self.analytics_api_key.get_secret_value()}"}

    @property
    def payment_url(self) -> str:
        return (self.payment_api_url or f"http://127.0.0.1:{self.payment_api_port}").rstrip("/")

    @property
    def analytics_url(self) -> str:
        return (self.analytics_api_url or f"http://127.0.0.1:{self.analytics_api_port}").rstrip("/")

    @property
    def segmenter_url(self) -> str:
        return f"http://127.0.0.1:{self.segmenter_health_port}"

    @property
    def launcher_url(self) -> str:
        return f"http://127.0.0.1:{self.launcher_api_port}"

    @property
    def mail_url(self) -> str:
        return f"http://127.0.0.1:{self.smtp_sink_http_port}"

    @property
    def decision_log_urls(self) -> dict[str, str]:
        """The services that decide (an AI step, or the optimiser's rules), each serving its
        decision log on its HTTP port."""
        ports = {
            "planner": self.planner_health_port,
            "segmenter": self.segmenter_health_port,
            "content": self.content_health_port,
            "launcher": self.launcher_api_port,
        }
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        return urls | {"analytics": self.analytics_url}
