"""Routing over real HTTP: card payments go to Stripe (the fake, through the official SDK)
and fail over to PayPal (the sandbox) when Stripe cannot take them; a decline is final; a
breaker rests Stripe after repeated failures and lets one trial call through after the
cool-down. Each test runs its own service, so each starts with closed breakers."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from services.payment.settings import PaymentSettings
from tests.support.factories import payment_request, usd
from tests.support.fake_stripe import FAKE_API_KEY, FakeStripe, server_error
from tests.support.payment_service import (
    WITHOUT_RISK_HOLDS,
    idempotency_key,
    payment_api,
    payment_settings,
)

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure

COOL_DOWN_SECONDS = 5.0
RATE_LIMITED = 429


@pytest.fixture(autouse=True)
def _fresh_stripe(stripe_api: FakeStripe) -> None:
    stripe_api.reset()


def card_then_paypal(
    infra: TestInfrastructure, stripe_api: FakeStripe, **overrides: Any
) -> PaymentSettings:
    """Cards to the fake Stripe first, then to the PayPal sandbox; a breaker that opens on
    two failures out of two calls and rests ``COOL_DOWN_SECONDS``."""
    routes = {
        "credit_card": ["stripe", "paypal"],
        "debit_card": ["stripe"],
        "paypal": ["paypal"],
        "bitcoin": ["crypto"],
        "ethereum": ["crypto"],
    }
    return payment_settings(
        infra,
        "routing",
        stripe_api_key=FAKE_API_KEY,
        stripe_api_base_url=stripe_api.base_url,
        payment_routes=routes,
        payment_breaker_window=4,
        payment_breaker_min_calls=2,
        payment_breaker_min_success_rate=0.5,
        payment_breaker_cool_down_seconds=COOL_DOWN_SECONDS,
        **WITHOUT_RISK_HOLDS | overrides,
    )


def stripe_calls_for(stripe_api: FakeStripe, payment_id: str) -> int:
    return sum(
        1
        for r in stripe_api.requests_to("POST", "/v1/payment_intents")
        if r.metadata().get("payment_id") == payment_id
    )


def attempts(payment: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(a["processor"], a["outcome"], a["error_code"]) for a in payment["attempts"]]


async def pay(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post(
        "/v1/payments", json=payment_request(**overrides), headers=idempotency_key()
    )
    assert response.status_code in (201, 402), response.text
    payment: dict[str, Any] = response.json()
    return payment


async def test_card_payment_fails_over_to_paypal_when_stripe_is_rate_limited(
    infra: TestInfrastructure, stripe_api: FakeStripe
) -> None:
    stripe_api.fail_next(server_error(RATE_LIMITED))

    async with payment_api(card_then_paypal(infra, stripe_api)) as api:
        payment = await pay(api)

    assert (payment["status"], payment["processor"]) == ("completed", "paypal")
    assert attempts(payment) == [
        ("stripe", "unavailable", "rate_limited"),
        ("paypal", "approved", None),
    ]
    assert payment["processor_transaction_id"].startswith("paypal_")
    assert payment["fee"] == usd("5.72")  # 3.49% + 0.49
    assert [(c["from"], c["to"]) for c in payment["status_history"]] == [
        (None, "pending"),
        ("pending", "processing"),
        ("processing", "completed"),
    ]
    assert stripe_calls_for(stripe_api, payment["id"]) == 1


async def test_declined_card_is_never_retried_on_the_next_processor(
    infra: TestInfrastructure, stripe_api: FakeStripe
) -> None:
    async with payment_api(card_then_paypal(infra, stripe_api)) as api:
        payment = await pay(api, payment_token="pm_card_chargeDeclined")

    assert (payment["status"], payment["failure_reason"]) == ("failed", "card_declined")
    assert payment["processor"] == "stripe"
    assert attempts(payment) == [("stripe", "declined", "card_declined")]
    assert stripe_calls_for(stripe_api, payment["id"]) == 1


async def test_breaker_rests_failing_stripe_then_lets_a_trial_call_through_after_cool_down(
    infra: TestInfrastructure, stripe_api: FakeStripe
) -> None:
    stripe_api.fail_next(server_error(RATE_LIMITED), server_error(RATE_LIMITED))

    async with payment_api(card_then_paypal(infra, stripe_api)) as api:
        failing = [await pay(api), await pay(api)]
        resting = await pay(api)
        await asyncio.sleep(COOL_DOWN_SECONDS + 0.5)
        trial = await pay(api)
        closed = await pay(api)

    for payment in failing:
        assert attempts(payment) == [
            ("stripe", "unavailable", "rate_limited"),
            ("paypal", "approved", None),
        ]
        assert stripe_calls_for(stripe_api, payment["id"]) == 1
    assert attempts(resting) == [("paypal", "approved", None)]
    assert stripe_calls_for(stripe_api, resting["id"]) == 0
    for payment in (trial, closed):
        assert (payment["status"], payment["processor"]) == ("completed", "stripe")
        assert attempts(payment) == [("stripe", "approved", None)]
        assert stripe_calls_for(stripe_api, payment["id"]) == 1


async def test_declines_do_not_open_the_breaker(
    infra: TestInfrastructure, stripe_api: FakeStripe
) -> None:
    async with payment_api(card_then_paypal(infra, stripe_api)) as api:
        declined = [await pay(api, payment_token="pm_card_chargeDeclined") for _ in range(3)]
        approved = await pay(api)

    assert [p["failure_reason"] for p in declined] == ["card_declined"] * 3
    assert attempts(approved) == [("stripe", "approved", None)]
