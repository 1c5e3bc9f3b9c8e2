"""The one settings pattern: typed environment variables, checked at start-up.

Each service subclasses ``ServiceSettings``; only its composition root reads it. A bad value
stops start-up with one line naming the variable and what is wrong.
"""

from __future__ import annotations

import sys
from typing import Any, Literal, Self

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

type Environment = Literal["local", "production"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Environment = Field(
        default="local", description="'local' allows development-only defaults."
    )
    kafka_bootstrap_servers: str = Field(default="localhost:9092", min_length=1)
    kafka_idempotent_producer: bool = Field(
        default=False, description="Enable on Apache Kafka; the embedded broker lacks it."
    )
    kafka_topic_partitions: int = Field(default=3, ge=1, le=128)
    kafka_topic_replication_factor: int = Field(
        default=1,
        ge=1,
        le=32767,
        description="Replicas of each topic created at start-up; at most the number of brokers.",
    )
    mongodb_url: str = Field(default="mongodb://localhost:27017", pattern=r"^mongodb(\+srv)?://")
    mongodb_db_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$")
    mongodb_serialize_transactions: bool | None = Field(
        default=None,
        description=(
            "One transaction at a time per process. Default: on in local mode, whose "
            "embedded database conflicts on any concurrent commit; off elsewhere."
        ),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    handler_max_attempts: int = Field(default=5, ge=1, le=50)
    handler_retry_base_seconds: float = Field(default=0.2, gt=0, le=60)
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    outbox_lease_seconds: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="How long a replica's outbox relay stays the only publisher without renewing; "
        "a standby takes over this long after the active relay's process died.",
    )
    outbox_lease_renew_seconds: float = Field(
        default=5.0, gt=0, le=1200, description="How often the active relay renews its lease."
    )
    health_host: str = "0.0.0.0"  # noqa: S104 - containers must answer their healthchecks

    @model_validator(mode="before")
    @classmethod
    def _empty_means_unset(cls, data: Any) -> Any:
        """``FOO=`` is the same as no ``FOO``: compose's ``${FOO:-}`` passes optional secrets
        through without turning an unset key into an empty one."""
        if isinstance(data, dict):
            return {name: value for name, value in data.items() if value != ""}
        return data

    @model_validator(mode="after")
    def _lease_renewed_before_it_expires(self) -> Self:
        if self.outbox_lease_renew_seconds >= self.outbox_lease_seconds:
            raise ValueError(
                "OUTBOX_LEASE_RENEW_SECONDS must be shorter than OUTBOX_LEASE_SECONDS "
                f"({self.outbox_lease_renew_seconds} >= {self.outbox_lease_seconds})"
            )
        return self

    @property
    def serialize_transactions(self) -> bool:
        if self.mongodb_serialize_transactions is None:
            return self.environment == "local"
        return self.mongodb_serialize_transactions


# Development-only secrets: accepted in local mode, refused anywhere else.
DEV_ONLY_PAYMENT_API_KEY = "dev-only-payment-api-key"


class RequiresSecrets(ServiceSettings):
    """Settings with secrets whose development defaults must not reach production."""

    @model_validator(mode="after")
    def _no_dev_secrets_outside_local(self) -> Self:
        if self.environment != "local":
            for name, value in self.secret_values().items():
                if value.startswith("dev-only-"):
                    raise ValueError(f"{name.upper()} must be set outside local mode")
        return self

    def secret_values(self) -> dict[str, str]:
        return {}


# A bad value of a variable whose name holds one of these is never echoed back.
SECRET_WORDS = ("KEY", "SECRET", "PASSWORD", "TOKEN")


def load_settings[S: BaseSettings](cls: type[S]) -> S:
    """Read ``cls`` from the environment, or exit with one line per bad variable."""
    try:
        return cls()
    except ValidationError as error:
        for item in error.errors(include_url=False):
            variable = "_".join(str(p) for p in item["loc"]).upper()
            secret = any(word in variable for word in SECRET_WORDS)
            shown = variable and "input" in item and not secret
            given = f" (got {item['input']!r})" if shown else ""
            message = item["msg"].removeprefix("Value error, ")
            where = f"{variable}: " if variable else ""
            print(f"configuration error: {where}{message}{given}", file=sys.stderr)
        raise SystemExit(2) from None
