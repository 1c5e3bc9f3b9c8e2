"""Local servers that play Stripe, PayPal and the crypto gateway, shared by a module's tests;
and the payment service assembled on a module's ``settings``, with its API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from services.payment.app import PaymentService, assemble
from services.payment.settings import PaymentSettings
from tests.support.fake_crypto import FakeCrypto, fake_crypto_server
from tests.support.fake_paypal import FakePayPal, fake_paypal_server
from tests.support.fake_stripe import FakeStripe, fake_stripe_server
from tests.support.payment_service import payment_api


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[FakeStripe]:
    with fake_stripe_server() as server:
        yield server


@pytest.fixture(scope="module")
def paypal_api() -> Iterator[FakePayPal]:
    with fake_paypal_server() as server:
        yield server


@pytest.fixture(scope="module")
def crypto_api() -> Iterator[FakeCrypto]:
    with fake_crypto_server() as server:
        yield server


@pytest.fixture(scope="module")
def payment(settings: PaymentSettings) -> PaymentService:
    """The payment service, assembled but not served, on the module's own ``settings``."""
    return assemble(settings)


@pytest.fixture(scope="module")
async def api(
    settings: PaymentSettings, payment: PaymentService
) -> AsyncIterator[httpx.AsyncClient]:
    async with payment_api(settings, payment.service) as client:
        yield client
