"""Local servers that play Stripe, PayPal and the crypto gateway, shared by a module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_crypto import FakeCrypto, fake_crypto_server
from tests.support.fake_paypal import FakePayPal, fake_paypal_server
from tests.support.fake_stripe import FakeStripe, fake_stripe_server


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
