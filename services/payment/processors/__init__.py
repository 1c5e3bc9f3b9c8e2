"""The port every payment processor adapter implements.

This issue ships sandboxes only (``processors.sandbox``); a later one adds real Stripe,
PayPal and crypto adapters behind the same ``PaymentProcessor`` protocol, so nothing
outside this package changes when they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.events.payments import PaymentMethod
from shared.money import Money


@dataclass(frozen=True)
class Charge:
    """What a processor is asked to collect.

    ``payment_id`` is unique per payment, so a real adapter passes it as the processor's own
    idempotency key: a retried charge is then never collected twice at the processor either.
    """

    payment_id: str
    amount: Money
    payment_method: PaymentMethod
    payment_token: str


@dataclass(frozen=True)
class ChargeOutcome:
    """The processor's answer: approved when there is no ``failure_reason``."""

    processor_transaction_id: str | None
    failure_reason: str | None = None

    @property
    def approved(self) -> bool:
        return self.failure_reason is None


class PaymentProcessor(Protocol):
    """Collects a charge and says whether it went through; declines are outcomes, not errors."""

    @property
    def name(self) -> str: ...

    async def charge(self, charge: Charge) -> ChargeOutcome: ...
