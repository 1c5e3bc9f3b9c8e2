"""Database round trips a payment costs, counted by a command listener on the service's own
client: an upper bound the design must keep, never a timing.

The outbox relay's reads and marks, and reconciliation's sweeps, are background work per
batch, not per payment: they are left out of the count (the outbox row a payment inserts
is counted).
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pymongo import monitoring

from services.payment.app import assemble
from services.payment.settings import PaymentSettings
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
BACKGROUND_COLLECTIONS = frozenset({"outbox_lease"})


class CommandCount(monitoring.CommandListener):
    """Every command the payment path sends, by name and collection."""

    def __init__(self) -> None:
        self.commands: collections.Counter[str] = collections.Counter()
        self._payment_transactions: set[tuple[bytes, int]] = set()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        collection = target if isinstance(target, str) else ""
        transaction = _transaction_of(event.command)
        if self._background(event.command_name, collection):
            return
        if event.command_name in ("commitTransaction", "abortTransaction"):
            if transaction not in self._payment_transactions:
                return  # the relay's own transaction
        elif transaction is not None:
            self._payment_transactions.add(transaction)
        self.commands[f"{event.command_name} {collection}".strip()] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    @staticmethod
    def _background(name: str, collection: str) -> bool:
        relay = collection == "outbox" and name != "insert"
        return relay or collection in BACKGROUND_COLLECTIONS or name in ("endSessions",)

    @property
    def round_trips(self) -> int:
        return sum(self.commands.values())

    @property
    def transactions(self) -> int:
        return self.commands["commitTransaction"]


def _transaction_of(command: Mapping[str, Any]) -> tuple[bytes, int] | None:
    if "txnNumber" not in command or "lsid" not in command:
        return None
    return bytes(command["lsid"]["id"]), int(command["txnNumber"])


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
) -> AsyncIterator[tuple[httpx.AsyncClient, CommandCount]]:
    count = CommandCount()
    async with payment_api(settings, assemble(settings, [count]).service) as api:
        # One payment first, so startup's index builds and probes are not counted.
        await api.post("/v1/payments", json=payment_request(), headers=idempotency_key())
        yield api, count


async def per_payment(api: httpx.AsyncClient, count: CommandCount, token: str) -> CommandCount:
    """What each of ``PAYMENTS`` payments cost, each by another customer, one at a time."""
    count.commands.clear()
    for _ in range(PAYMENTS):
        body = payment_request(payment_token=token)
        response = await api.post("/v1/payments", json=body, headers=idempotency_key())
        assert response.status_code in (201, 402), response.text
    spent = CommandCount()
    spent.commands = collections.Counter(
        {name: -(-n // PAYMENTS) for name, n in count.commands.items()}
    )
    print(
        f"\n{token}: {count.round_trips / PAYMENTS:.1f} round trips per payment: {count.commands}"
    )
    return spent


async def test_completed_payment_takes_at_most_eight_round_trips_and_one_transaction(
    counted: tuple[httpx.AsyncClient, CommandCount],
) -> None:
    api, count = counted
    spent = await per_payment(api, count, "pm_card_visa")
    assert count.round_trips <= MAX_ROUND_TRIPS * PAYMENTS, dict(spent.commands)
    assert count.transactions <= MAX_TRANSACTIONS * PAYMENTS, dict(spent.commands)


async def test_declined_payment_takes_at_most_eight_round_trips_and_one_transaction(
    counted: tuple[httpx.AsyncClient, CommandCount],
) -> None:
    api, count = counted
    spent = await per_payment(api, count, "pm_card_chargeDeclined")
    assert count.round_trips <= MAX_ROUND_TRIPS * PAYMENTS, dict(spent.commands)
    assert count.transactions <= MAX_TRANSACTIONS * PAYMENTS, dict(spent.commands)
