"""Sandbox processors: deterministic outcomes chosen by the payment token, no network.

Cards follow Stripe's documented test payment methods, so the same tokens keep working
against Stripe's own test mode once the real adapter exists. PayPal and crypto decline the
token ``sandbox_decline`` and approve anything else.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping

from services.payment.processors import Charge, ChargeOutcome, PaymentProcessor

# https://docs.stripe.com/testing#cards and #declined-payments; None means approved.
STRIPE_TEST_PAYMENT_METHODS: Mapping[str, str | None] = {
    "pm_card_visa": None,
    "pm_card_visa_debit": None,
    "pm_card_mastercard": None,
    "pm_card_chargeDeclined": "card_declined",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
}
SANDBOX_DECLINE_TOKEN = "sandbox_decline"  # noqa: S105 - a test token, not a secret


def _transaction_id(processor: str) -> str:
    return f"{processor}_{uuid.uuid4()}"


class SandboxCardProcessor:
    """Stripe's test mode in miniature: unknown payment methods are refused, as Stripe does."""

    def __init__(self, latency_seconds: float = 0.0) -> None:
        self._latency = latency_seconds

    @property
    def name(self) -> str:
        return "stripe"

    async def charge(self, charge: Charge) -> ChargeOutcome:
        await asyncio.sleep(self._latency)
        if charge.payment_token not in STRIPE_TEST_PAYMENT_METHODS:
            return ChargeOutcome(None, "invalid_payment_method")  # never reached the network
        return ChargeOutcome(
            _transaction_id(self.name), STRIPE_TEST_PAYMENT_METHODS[charge.payment_token]
        )


class SandboxWalletProcessor:
    """PayPal or a crypto gateway: declines ``sandbox_decline``, approves any other token."""

    def __init__(self, name: str, latency_seconds: float = 0.0) -> None:
        self._name = name
        self._latency = latency_seconds

    @property
    def name(self) -> str:
        return self._name

    async def charge(self, charge: Charge) -> ChargeOutcome:
        await asyncio.sleep(self._latency)
        declined = charge.payment_token == SANDBOX_DECLINE_TOKEN
        return ChargeOutcome(_transaction_id(self.name), "declined" if declined else None)


def sandbox_processors(latency_seconds: float = 0.0) -> dict[str, PaymentProcessor]:
    """Every processor the router can choose, keyed by name."""
    processors: list[PaymentProcessor] = [
        SandboxCardProcessor(latency_seconds),
        SandboxWalletProcessor("paypal", latency_seconds),
        SandboxWalletProcessor("crypto", latency_seconds),
    ]
    return {processor.name: processor for processor in processors}
