"""Payment configuration: keys, the routing and fee tables, amount limits, risk thresholds,
the processors' credentials and the reconciliation job.

Secrets are ``SecretStr``: they print as '**********' in reprs, logs and error messages.
Development defaults start with ``dev-only-`` and are refused outside local mode. Outside
local mode every processor a route can reach must have its credentials: the sandbox,
which approves its test tokens without taking any money, exists only in local mode.
"""

import base64
from decimal import Decimal
from typing import Self

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from services.payment.domain.fees import DEFAULT_MAXIMUM_AMOUNTS, DEFAULT_MINIMUM_AMOUNTS
from services.payment.domain.routing import DEFAULT_ROUTES
from shared.events.payments import PaymentMethod
from shared.settings import DEV_ONLY_PAYMENT_API_KEY, RequiresSecrets

PROCESSORS = frozenset({"stripe", "paypal", "crypto"})
# Development only: a fixed key so local data stays readable across restarts.
DEV_ONLY_DATA_KEY = "dev-only-key:" + base64.b64encode(b"dev-only-payment-data-key-000000").decode()
DEV_ONLY_FINGERPRINT_KEY = "dev-only-payment-fingerprint-key"


class ProcessorFee(BaseModel):
    rate: Decimal = Field(ge=0, lt=1, description="Share of the amount, e.g. 0.029 for 2.9%.")
    fixed: Decimal = Field(ge=0, description="Per payment, in the payment's currency.")


class PaymentSettings(RequiresSecrets):
    payment_api_port: int = Field(default=8000, ge=1, le=65535)
    payment_api_key: SecretStr = Field(
        default=SecretStr(DEV_ONLY_PAYMENT_API_KEY),
        min_length=16,
        description="Bearer token clients send; must be set outside local mode.",
    )
    payment_data_key: SecretStr = Field(
        default=SecretStr(DEV_ONLY_DATA_KEY),
        description="Field encryption keyring: 'id:base64 32-byte key,...', the first encrypts.",
    )
    payment_fingerprint_key: SecretStr = Field(
        default=SecretStr(DEV_ONLY_FINGERPRINT_KEY),
        min_length=16,
        description="HMAC key for the IP and token fingerprints risk counts by.",
    )
    payment_processor_fees: dict[str, ProcessorFee] = Field(
        default={
            "stripe": ProcessorFee(rate=Decimal("0.029"), fixed=Decimal("0.30")),
            "paypal": ProcessorFee(rate=Decimal("0.0349"), fixed=Decimal("0.49")),
            "crypto": ProcessorFee(rate=Decimal("0.010"), fixed=Decimal("0")),
        },
        description="Each processor's published schedule: rate x amount + fixed.",
    )
    payment_routes: dict[PaymentMethod, list[str]] = Field(
        default={method: list(route) for method, route in DEFAULT_ROUTES.items()},
        description="Per payment method, the processors to try in order (JSON).",
    )
    payment_minimum_amounts: dict[str, Decimal] = Field(
        default=dict(DEFAULT_MINIMUM_AMOUNTS), description="Smallest charge per currency."
    )
    payment_maximum_amounts: dict[str, Decimal] = Field(
        default=dict(DEFAULT_MAXIMUM_AMOUNTS), description="Largest charge per currency."
    )
    payment_breaker_window: int = Field(default=20, ge=1, le=1000)
    payment_breaker_min_calls: int = Field(default=5, ge=1, le=1000)
    payment_breaker_min_success_rate: float = Field(default=0.5, ge=0, le=1)
    payment_breaker_cool_down_seconds: float = Field(default=30, gt=0, le=3600)
    payment_risk_review_threshold: float = Field(default=0.6, gt=0, le=1)
    payment_risk_block_threshold: float = Field(default=0.85, gt=0, le=1)
    payment_trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks whose X-Forwarded-For is believed.",
    )
    payment_ip_country_header: str | None = Field(
        default=None,
        description="Header a trusted proxy sets to the client IP's country, e.g. CF-IPCountry.",
    )
    payment_idempotency_key_hours: int = Field(
        default=24, ge=24, le=24 * 30, description="How long a replayable response is kept."
    )
    payment_idempotency_wait_seconds: float = Field(
        default=10, ge=0, le=60, description="How long a repeat waits for the first answer."
    )
    payment_processor_latency_seconds: float = Field(
        default=0.0, ge=0, le=30, description="Simulated round trip of the sandbox processors."
    )
    payment_processor_timeout_seconds: float = Field(default=20, gt=0, le=120)
    payment_max_in_flight: int = Field(
        default=64, ge=1, le=10_000, description="Payment operations at once; more get 503."
    )
    stripe_api_key: SecretStr | None = None
    stripe_api_base_url: str | None = None
    stripe_webhook_secret: SecretStr | None = None
    paypal_client_id: str | None = None
    paypal_client_secret: SecretStr | None = None
    paypal_api_base_url: str = "https://api-m.sandbox.paypal.com"
    paypal_webhook_id: str | None = None
    paypal_request_id_window_hours: float = Field(
        default=6,
        gt=0,
        le=72,
        description="How long PayPal honours a PayPal-Request-Id (6 h, up to 72 on request).",
    )
    crypto_api_key: SecretStr | None = None
    crypto_api_base_url: str = "https://api.commerce.coinbase.com"
    crypto_webhook_secret: SecretStr | None = None
    payment_reconciliation_interval_seconds: float = Field(default=30, gt=0, le=3600)
    payment_reconciliation_after_seconds: float = Field(
        default=60, ge=0, description="Age of an undecided attempt before it is asked about."
    )
    payment_reconciliation_limit_minutes: float = Field(
        default=24 * 60, gt=0, description="After this, a payment still processing is failed."
    )
    payment_lease_seconds: float = Field(
        default=30,
        gt=0,
        le=600,
        description="A processor call's lease, renewed every third of it while in flight; "
        "reconciliation takes a call over only once its lease has expired.",
    )
    payment_count_commands: bool = Field(
        default=False,
        description="Count the database commands the service sends and serve the tally at "
        "GET /debug/database-commands (the benchmark reads it); local mode only.",
    )

    @field_validator("payment_processor_fees")
    @classmethod
    def _every_processor_priced(cls, fees: dict[str, ProcessorFee]) -> dict[str, ProcessorFee]:
        if missing := PROCESSORS - fees.keys():
            raise ValueError(
                f"needs a fee for every processor; missing {', '.join(sorted(missing))}"
            )
        return fees

    @field_validator("payment_routes")
    @classmethod
    def _routes_known(
        cls, routes: dict[PaymentMethod, list[str]]
    ) -> dict[PaymentMethod, list[str]]:
        if missing := set(PaymentMethod) - routes.keys():
            raise ValueError(f"needs a route for {', '.join(sorted(missing))}")
        for method, route in routes.items():
            if not route or set(route) - PROCESSORS or len(set(route)) != len(route):
                raise ValueError(
                    f"{method.value}: a non-empty list of distinct processors among "
                    f"{', '.join(sorted(PROCESSORS))}"
                )
        return routes

    @model_validator(mode="after")
    def _routed_processors_have_credentials(self) -> Self:
        if self.environment == "local":
            return self
        if self.payment_count_commands:
            raise ValueError("PAYMENT_COUNT_COMMANDS is for local benchmarks only")
        routed = {processor for route in self.payment_routes.values() for processor in route}
        for processor in sorted(routed):
            for variable in self.missing_credentials(processor):
                raise ValueError(
                    f"{variable} must be set outside local mode: a route sends payments to "
                    f"{processor}, and the sandbox takes no money"
                )
        return self

    def missing_credentials(self, processor: str) -> list[str]:
        """The variables ``processor``'s real adapter needs that are not set."""
        credentials: dict[str, dict[str, object]] = {
            "stripe": {"STRIPE_API_KEY": self.stripe_api_key},
            "paypal": {
                "PAYPAL_CLIENT_ID": self.paypal_client_id,
                "PAYPAL_CLIENT_SECRET": self.paypal_client_secret,
            },
            "crypto": {"CRYPTO_API_KEY": self.crypto_api_key},
        }
        return [name for name, value in credentials[processor].items() if value is None]

    def secret_values(self) -> dict[str, str]:
        return {
            "payment_api_key": self.payment_api_key.get_secret_value(),
            "payment_data_key": self.payment_data_key.get_secret_value(),
            "payment_fingerprint_key": self.payment_fingerprint_key.get_secret_value(),
        }
