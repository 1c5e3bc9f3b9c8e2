"""Refunds never lose a processor's answer and never give money back twice, against the real
broker and database, with Stripe played by a local server through the official SDK.

Races are made deterministic by holding a request at the fake Stripe until the test lets it
go: the refund is in flight for exactly as long as the scenario needs.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from services.payment.app import PaymentService
from services.payment.settings import PaymentSettings
from shared.events.topics import PAYMENT_REFUNDED
from tests.support.factories import campaign_id, payment_request
from tests.support.fake_stripe import (
    FAKE_API_KEY,
    FAKE_WEBHOOK_SECRET,
    FakeStripe,
    drop,
    held,
    sign_webhook,
)
from tests.support.kafka import EventLog
from tests.support.payment_service import (
    ROUNDS_RUN_BY_THE_TEST,
    WITHOUT_RISK_HOLDS,
    current,
    idempotency_key,
    payment_settings,
)

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure


@pytest.fixture(scope="module")
def settings(infra: TestInfrastructure, stripe_api: FakeStripe) -> PaymentSettings:
    return payment_settings(
        infra,
        "refund_safety",
        stripe_api_key=FAKE_API_KEY,
        stripe_api_base_url=stripe_api.base_url,
        stripe_webhook_secret=FAKE_WEBHOOK_SECRET,
        **ROUNDS_RUN_BY_THE_TEST,
        **WITHOUT_RISK_HOLDS,
    )


async def card_payment(api: httpx.AsyncClient, amount: str = "100.00") -> dict[str, Any]:
    body = payment_request(campaign_id(), amount=amount)
    response = await api.post("/v1/payments", json=body, headers=idempotency_key())
    assert response.status_code == 201, response.text
    paid: dict[str, Any] = response.json()
    return paid


async def refund(
    api: httpx.AsyncClient, payment_id: str, key: dict[str, str] | None = None, *, amount: str
) -> httpx.Response:
    body = {"amount": {"amount": amount, "currency": "USD"}}
    return await api.post(
        f"/v1/payments/{payment_id}/refunds", json=body, headers=key or idempotency_key()
    )


def refunds_at_stripe(stripe_api: FakeStripe, payment: dict[str, Any]) -> list[tuple[str, int]]:
    """(our refund id, minor units) of every refund Stripe made on the payment."""
    intent = payment["processor_transaction_id"]
    return [
        (r["metadata"]["refund_id"], r["amount"])
        for r in stripe_api.refunds.values()
        if r["payment_intent"] == intent
    ]


def refund_rows(payment: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["amount"]["amount"], r["status"]) for r in payment["refunds"]]


async def refunded_events(events: EventLog, payment_id: str, count: int) -> list[dict[str, Any]]:
    def about(event: dict[str, Any]) -> bool:
        data = event["data"]
        return data.get("payment_id", data.get("id")) == payment_id

    found = await events.wait_for(PAYMENT_REFUNDED, about, count=count)
    return list({event["id"]: event for event in found}.values())


async def test_concurrent_partial_refunds_both_settle_and_the_processor_refunds_each_once(
    api: httpx.AsyncClient, stripe_api: FakeStripe, events: EventLog
) -> None:
    """R1 reserves 30.00 and asks Stripe, which holds the request; R2 reserves 30.00 and
    completes meanwhile; then Stripe approves R1. R1's answer must not be lost to R2's write."""
    paid = await card_payment(api, "100.00")
    fault, hold = held()
    stripe_api.fail_next(fault)

    first = asyncio.create_task(refund(api, paid["id"], amount="30.00"))
    await hold.until_arrived()
    second = await refund(api, paid["id"], amount="30.00")
    hold.release()
    first_answer = await first

    assert (first_answer.status_code, second.status_code) == (201, 201), first_answer.text
    stored = await current(api, paid["id"])
    assert stored["status"] == "partially_refunded"
    assert sorted(refund_rows(stored)) == [("30.00", "succeeded"), ("30.00", "succeeded")]
    assert stored["refunded_amount"] == {"amount": "60.00", "currency": "USD"}
    made = refunds_at_stripe(stripe_api, paid)
    assert sorted(amount for _, amount in made) == [3000, 3000]
    assert len({refund_id for refund_id, _ in made}) == 2  # one processor refund per refund id
    assert len(await refunded_events(events, paid["id"], count=2)) == 2


async def test_refund_whose_outcome_is_unknown_keeps_its_reservation_until_reconciled(
    api: httpx.AsyncClient,
    payment: PaymentService,
    stripe_api: FakeStripe,
    events: EventLog,
) -> None:
    """Stripe refunds, but every answer is lost on the way back: the refund may have been
    made, so it stays pending with its amount held, and a retry never refunds twice."""
    paid = await card_payment(api, "100.00")
    key = idempotency_key()
    stripe_api.fail_next(drop(), drop(), drop())  # the SDK tries three times

    unknown = await refund(api, paid["id"], key, amount="70.00")

    assert unknown.status_code == 202, unknown.text
    pending = await current(api, paid["id"])
    assert refund_rows(pending) == [("70.00", "pending")]
    too_much = await refund(api, paid["id"], amount="70.00")  # only 30.00 is left
    assert too_much.status_code == 422, too_much.text

    await payment.reconciler.run_once(datetime.now(UTC))

    settled = await current(api, paid["id"])
    assert refund_rows(settled) == [("70.00", "succeeded")]
    assert settled["status"] == "partially_refunded"
    assert settled["refunded_amount"]["amount"] == "70.00"
    assert [amount for _, amount in refunds_at_stripe(stripe_api, paid)] == [7000]
    replayed = await refund(api, paid["id"], key, amount="70.00")
    assert replayed.status_code == 201, replayed.text
    assert refund_rows(replayed.json()) == [("70.00", "succeeded")]
    assert len(await refunded_events(events, paid["id"], count=1)) == 1


async def test_stripe_refund_webhook_settles_a_refund_left_pending_by_a_lost_answer(
    api: httpx.AsyncClient, stripe_api: FakeStripe
) -> None:
    paid = await card_payment(api, "100.00")
    stripe_api.fail_next(drop(), drop(), drop())
    assert (await refund(api, paid["id"], amount="25.00")).status_code == 202
    [made] = [r for r in stripe_api.refunds.values() if r["metadata"]["payment_id"] == paid["id"]]

    payload = json.dumps(
        {
            "id": f"evt_{made['id']}",
            "object": "event",
            "type": "refund.updated",
            "data": {"object": made},
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": sign_webhook(payload, FAKE_WEBHOOK_SECRET),
    }
    async with httpx.AsyncClient(base_url=str(api.base_url)) as processor:
        delivered = await processor.post("/v1/webhooks/stripe", content=payload, headers=headers)

    assert delivered.status_code == 200, delivered.text
    settled = await current(api, paid["id"])
    assert refund_rows(settled) == [("25.00", "succeeded")]
    assert settled["refunded_amount"]["amount"] == "25.00"
    assert [amount for _, amount in refunds_at_stripe(stripe_api, paid)] == [2500]
