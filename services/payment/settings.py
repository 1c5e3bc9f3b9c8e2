"""Payment configuration: the API key, the fee table, sandbox latency and the risk threshold."""

from decimal import Decimal

from pydantic import BaseModel, Field, SecretStr, field_validator

from services.payment.domain import PROCESSORS
from shared.settings import DEV_ONLY_PAYMENT_API_KEY, RequiresSecrets


class ProcessorFee(BaseModel):
    rate: Decimal = Field(ge=0, lt=1, description="Share of the amount, e.g. 0.029 for 2.9%.")
    fixed: Decimal = Field(ge=0, description="Per payment, in the payment's currency.")


class PaymentSettings(RequiresSecrets):
    payment_api_port: int = Field(default=8000, ge=1, le=65535)
    # SecretStr: the key prints as '**********' in reprs, logs and error messages.
    payment_api_key: SecretStr = Field(
        default=SecretStr(DEV_ONLY_PAYMENT_API_KEY),
        min_length=16,
        description="Bearer token clients send; must be set outside local mode.",
    )
    payment_processor_fees: dict[str, ProcessorFee] = Field(
        default={
            "stripe": ProcessorFee(rate=Decimal("0.029"), fixed=Decimal("0.30")),
            "paypal": ProcessorFee(rate=Decimal("0.0349"), fixed=Decimal("0.49")),
            "crypto": ProcessorFee(rate=Decimal("0.010"), fixed=Decimal("0")),
        },
        description="Each processor's published schedule: rate x amount + fixed.",
    )
    payment_processor_latency_seconds: float = Field(
        default=0.0, ge=0, le=30, description="Simulated round trip of the sandbox processors."
    )
    payment_high_amount_threshold: Decimal = Field(
        default=Decimal("1000"),
        gt=0,
        description="An amount at or above this (in the payment's currency) scores risk 1.",
    )
    payment_idempotency_key_hours: int = Field(
        default=24, ge=24, le=24 * 30, description="How long a replayable response is kept."
    )

    @field_validator("payment_processor_fees")
    @classmethod
    def _every_processor_priced(cls, fees: dict[str, ProcessorFee]) -> dict[str, ProcessorFee]:
        if missing := PROCESSORS - fees.keys():
            raise ValueError(
                f"needs a fee for every processor; missing {', '.join(sorted(missing))}"
            )
        return fees

    def secret_values(self) -> dict[str, str]:
        return {"payment_api_key": self.payment_api_key.get_secret_value()}
