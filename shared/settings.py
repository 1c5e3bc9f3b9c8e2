"""The one settings pattern: typed environment variables, checked at start-up.

Each service subclasses ``ServiceSettings``; only its composition root reads it. A bad value
stops start-up with one line naming the variable and what is wrong.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.secret_files import SecretFileError, SecretFilesSettings

type Environment = Literal["local", "production"]


class KafkaClientSettings(SecretFilesSettings):
    """How a client reaches the Kafka cluster: its address, TLS and SASL. The services and
    ``campaignctl`` read the same variables, so what a service connects to, the CLI does."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(default="localhost:9092", min_length=1)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="SASL_SSL for a production cluster (Strimzi's tls listener).",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="PEM CA bundle the brokers' certificates are checked against; "
        "unset, the system's trust store.",
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_means_unset(cls, data: Any) -> Any:
        """``FOO=`` is the same as no ``FOO``: compose's ``${FOO:-}`` passes optional secrets
        through without turning an unset key into an empty one."""
        if isinstance(data, dict):
            return {name: value for name, value in data.items() if value != ""}
        return data

    @model_validator(mode="after")
    def _sasl_has_credentials(self) -> Self:
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and (self.kafka_sasl_username is None or self.kafka_sasl_password is None):
            raise ValueError(
                f"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE) "
                f"must be set with KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}"
            )
        return self


class ServiceSettings(KafkaClientSettings):
    environment: Environment = Field(
        default="local", description="'local' allows development-only defaults."
    )
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
    mongodb_tls_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle; set, the connection uses TLS and checks the "
        "servers' certificates against it (or put tls=true&tlsCAFile=... in MONGODB_URL).",
    )
    mongodb_db_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$")
    mongodb_serialize_transactions: bool | None = Field(
        default=None,
        description=(
            "One transaction at a time per process. Default: on in local mode, whose "
            "embedded database conflicts on any concurrent commit; off elsewhere."
        ),
    )
    mongodb_server_selection_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long an operation waits for a reachable MongoDB server before failing.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    handler_max_attempts: int = Field(default=5, ge=1, le=50)
    handler_retry_base_seconds: float = Field(default=0.2, gt=0, le=60)
    batch_max_records: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Most messages a batch consumer (customer.upserted, payment events) "
        "applies in one transaction.",
    )
    batch_wait_ms: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="How long a batch consumer waits for messages when none are fetched yet.",
    )
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
    instance_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="This replica's name among its service's replicas: its Kafka client id and "
        "the owner its outbox lease names. Unset, the service's name.",
    )
    health_host: str = "0.0.0.0"  # noqa: S104 - containers must answer their healthchecks
    api_keys_file: Path | None = Field(
        default=None,
        description="Hashed API keys with their scopes and names, one a line; re-read when "
        "it changes, so keys rotate without a restart (see shared/api_keys/keys.py).",
    )

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
DEV_ONLY_ANALYTICS_API_KEY = "dev-only-analytics-api-key"


def refuse_dev_secrets(environment: Environment, secrets: dict[str, str]) -> None:
    """Raise ``ValueError`` naming the first secret still at its ``dev-only-`` default
    outside local mode."""
    if environment != "local":
        for name, value in secrets.items():
            if value.startswith("dev-only-"):
                raise ValueError(f"{name.upper()} must be set outside local mode")


class RequiresSecrets(ServiceSettings):
    """Settings with secrets whose development defaults must not reach production."""

    @model_validator(mode="after")
    def _no_dev_secrets_outside_local(self) -> Self:
        refuse_dev_secrets(self.environment, self.secret_values())
        return self

    def secret_values(self) -> dict[str, str]:
        return {}


class ReportingSettings(RequiresSecrets):
    """A service with reporting reads (analytics' reports, the decision logs, the customer
    count), which ``ANALYTICS_API_KEY`` opens."""

    analytics_api_key: SecretStr = Field(
        default=SecretStr(DEV_ONLY_ANALYTICS_API_KEY),
        min_length=16,
        description="Bearer key with every scope of analytics; it also opens the reporting "
        "reads of planner, segmenter and content. Must be set outside local mode.",
    )

    def secret_values(self) -> dict[str, str]:
        return super().secret_values() | {
            "analytics_api_key": self.analytics_api_key.get_secret_value()
        }


class ConfigurationError(ValueError):
    """A setting well-formed in itself whose content is not (a file it names, say): raised
    while a service is built, reported like a bad variable."""


# A bad value of a variable whose name holds one of these is never echoed back.
SECRET_WORDS = ("KEY", "SECRET", "PASSWORD", "TOKEN")
# The password of a URL's userinfo (``scheme://user:password@host``): whatever the variable.
URL_PASSWORD = re.compile(r"(?P<keep>://[^/@:\s]*:)[^@/\s]*@")


def without_url_passwords(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return URL_PASSWORD.sub(r"\g<keep>***@", text)


def report_configuration_error(message: str) -> None:
    """The one line a bad setting gets: ``configuration error: VARIABLE: what is wrong``."""
    print(f"configuration error: {message}", file=sys.stderr)


def load_settings[S: BaseSettings](cls: type[S]) -> S:
    """Read ``cls`` from the environment, or exit with one line per bad variable."""
    try:
        return cls()
    except SecretFileError as error:
        report_configuration_error(str(error))
        raise SystemExit(2) from None
    except ValidationError as error:
        for item in error.errors(include_url=False):
            variable = "_".join(str(p) for p in item["loc"]).upper()
            secret = any(word in variable for word in SECRET_WORDS)
            shown = variable and "input" in item and not secret
            given = without_url_passwords(f" (got {item['input']!r})") if shown else ""
            message = without_url_passwords(item["msg"].removeprefix("Value error, "))
            where = f"{variable}: " if variable else ""
            report_configuration_error(f"{where}{message}{given}")
        raise SystemExit(2) from None
