"""Database round trips a payment costs, counted by a command listener on the service's own
client: an upper bound the design must keep, never a timing.

The outbox relay's reads and marks are background work per batch, not per payment, and
reconciliation does not run here: both are left out (``CommandTally``); the outbox rows a
payment inserts are counted.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import pytest

from services.payment.app import assemble
from services.payment.settings import PaymentSettings
from shared.storage.command_tally import CommandTally
from tests.support.factories import payment_request
from tests.support.payment_service import (
    WITHOUT_RISK_HOLDS,
    idempotency_key,
    payment_api,
    payment_settings,
)

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure

MAX_ROUND_TRIPS = 8
MAX_TRANSACTIONS = 1
PAYMENTS = 5


@pytest.fixture(scope="module")
def settings(infra: TestInfrastructure) -> PaymentSettings:
    return payment_settings(
        infra,
        "round_trips",
        payment_reconciliation_interval_seconds=3600,
        **WITHOUT_RISK_HOLDS,
    )


@pytest.fixture(scope="module")
async def counted(
    settings: PaymentSettings,
) -> AsyncIterator[tuple[httpx.AsyncClient, CommandTally]]:
    tally = CommandTally()
    async with payment_api(settings, assemble(settings, [tally]).service) as api:
        # One payment first, so startup's index builds and probes are not counted.
        await api.post("/v1/payments", json=payment_request(), headers=idempotency_key())
        yield api, tally


async def pay(api: httpx.AsyncClient, tally: CommandTally, token: str) -> collections.Counter[str]:
    """``PAYMENTS`` payments, each by another customer, one at a time; what they cost."""
    tally.clear()
    for _ in range(PAYMENTS):
        body = payment_request(payment_token=token)
        response = await api.post("/v1/payments", json=body, headers=idempotency_key())
        assert response.status_code in (201, 402), response.text
    print(f"\n{token}: per {PAYMENTS} payments {dict(tally.request_path)}")
    return tally.request_path


@pytest.mark.parametrize("token", ["pm_card_visa", "pm_card_chargeDeclined"])
async def test_a_payment_takes_at_most_eight_round_trips_and_one_transaction(
    counted: tuple[httpx.AsyncClient, CommandTally], token: str
) -> None:
    """Completed or declined alike."""
    commands = await pay(*counted, token)

    assert sum(commands.values()) <= MAX_ROUND_TRIPS * PAYMENTS, dict(commands)
    assert commands["commitTransaction"] <= MAX_TRANSACTIONS * PAYMENTS, dict(commands)
