"""Sandbox processors: deterministic outcomes chosen by the payment token, no network.

Cards follow Stripe's documented test payment methods, so the same tokens work against
Stripe's own test mode with the real adapter. PayPal and crypto decline the token
``sandbox_decline``, time out on ``sandbox_timeout`` (after "charging", as a real timeout
after sending would: ``lookup`` then finds the charge) and approve anything else.

Like a real processor, a sandbox remembers each attempt and refund by its idempotency key:
the same key gets the same answer, and ``lookup`` and ``lookup_refund`` find it. That
memory lives as long as the process, which is what a sandbox needs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import timedelta

from services.payment.processors import (
    Charge,
    ChargeOutcome,
    OutcomeUnknownError,
    PaymentProcessor,
    RefundOrder,
    RefundOutcome,
)

# https://docs.stripe.com/testing#cards and #declined-payments; None means approved.
STRIPE_TEST_PAYMENT_METHODS: Mapping[str, str | None] = {
    "pm_card_visa": None,
    "pm_card_visa_debit": None,
    "pm_card_mastercard": None,
    "pm_card_chargeDeclined": "card_declined",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
}
SANDBOX_DECLINE_TOKEN = "sandbox_decline"  # noqa: S105 - a test token, not a secret
SANDBOX_TIMEOUT_TOKEN = "sandbox_timeout"  # noqa: S105 - a test token, not a secret
# Tokens every test customer shares (risk counts them per customer).
SHARED_TEST_TOKENS = frozenset(
    {*STRIPE_TEST_PAYMENT_METHODS, SANDBOX_DECLINE_TOKEN, SANDBOX_TIMEOUT_TOKEN}
)


def _transaction_id(processor: str) -> str:
    return f"{processor}_{uuid.uuid4()}"


class SandboxProcessor:
    def __init__(self, name: str, latency_seconds: float) -> None:
        self._name = name
        self._latency = latency_seconds
        self._attempts: dict[str, ChargeOutcome] = {}
        self._refunds: dict[str, RefundOutcome] = {}

    @property
    def name(self) -> str:
        return self._name

    def _decide(self, charge: Charge) -> ChargeOutcome:
        raise NotImplementedError

    async def charge(self, charge: Charge) -> ChargeOutcome:
        await asyncio.sleep(self._latency)
        outcome = self._attempts.get(charge.idempotency_key)
        if outcome is None:
            outcome = self._attempts[charge.idempotency_key] = self._decide(charge)
        if charge.payment_token == SANDBOX_TIMEOUT_TOKEN:
            raise OutcomeUnknownError("timeout", f"{self.name} sandbox: no answer in time")
        return outcome

    async def lookup(self, charge: Charge) -> ChargeOutcome | None:
        return self._attempts.get(charge.idempotency_key)

    async def refund(self, refund: RefundOrder) -> RefundOutcome:
        await asyncio.sleep(self._latency)
        made = self._refunds.get(refund.refund_id)
        if made is None:
            made = self._refunds[refund.refund_id] = RefundOutcome(
                f"{self.name}_refund_{uuid.uuid4()}"
            )
        return made

    async def lookup_refund(self, refund: RefundOrder) -> RefundOutcome | None:
        return self._refunds.get(refund.refund_id)

    @property
    def idempotency_window(self) -> timedelta | None:
        return None  # it remembers every attempt for as long as the process lives

    async def close(self) -> None:
        return None


class SandboxCardProcessor(SandboxProcessor):
    """Stripe's test mode in miniature: unknown payment methods are refused, as Stripe does."""

    def __init__(self, latency_seconds: float = 0.0) -> None:
        super().__init__("stripe", latency_seconds)

    def _decide(self, charge: Charge) -> ChargeOutcome:
        if charge.payment_token not in STRIPE_TEST_PAYMENT_METHODS:
            return ChargeOutcome(None, "invalid_payment_method")
        return ChargeOutcome(
            _transaction_id(self.name), STRIPE_TEST_PAYMENT_METHODS[charge.payment_token]
        )


class SandboxWalletProcessor(SandboxProcessor):
    """PayPal or a crypto gateway: declines ``sandbox_decline``, approves any other token."""

    def __init__(self, name: str, latency_seconds: float = 0.0) -> None:
        super().__init__(name, latency_seconds)

    def _decide(self, charge: Charge) -> ChargeOutcome:
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
