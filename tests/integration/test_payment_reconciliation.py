"""Reconciliation settles the payments no processor answer decided, against the real
broker and database, with Stripe and the crypto gateway played by local servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from services.payment.app import PaymentService
from services.payment.reconciliation import Reconciler
from services.payment.settings import PaymentSettings
from shared.events.topics import PAYMENT_COMPLETED, PAYMENT_FAILED
from tests.support import fake_crypto
from tests.support.factories import campaign_id, payment_request, usd
from tests.support.fake_crypto import FakeCrypto
from tests.support.fake_stripe import (
    FAKE_API_KEY,
    FakeStripe,
    drop,
    server_error,
)
from tests.support.kafka import EventLog, for_campaign
from tests.support.payment_service import (
    WITHOUT_RISK_HOLDS,
    current,
    idempotency_key,
    payment_settings,
)

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure

LIMIT = timedelta(minutes=60)


@pytest.fixture(scope="module")
def settings(
    infra: TestInfrastructure, stripe_api: FakeStripe, crypto_api: FakeCrypto
) -> PaymentSettings:
    # A database of its own: each round looks at every payment still processing.
    return payment_settings(
        infra,
        "reconciliation",
        stripe_api_key=FAKE_API_KEY,
        stripe_api_base_url=stripe_api.base_url,
        crypto_api_key=fake_crypto.API_KEY,
        crypto_api_base_url=crypto_api.base_url,
        # The tests run the rounds; the background job never ticks while they do.
        payment_reconciliation_interval_seconds=3600,
        payment_reconciliation_after_seconds=0,
        payment_reconciliation_limit_minutes=LIMIT.total_seconds() / 60,
        **WITHOUT_RISK_HOLDS,
    )


@pytest.fixture
def reconciler(payment: PaymentService, api: httpx.AsyncClient) -> Reconciler:
    """The running service's reconciler: the tests run its rounds."""
    return payment.reconciler


def unchanged(now: dict[str, Any], before: dict[str, Any]) -> bool:
    """The same status, history and attempts: nothing was recorded on the payment."""
    fields = ("status", "status_history", "attempts")
    return all(now[field] == before[field] for field in fields)


async def pay(api: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await api.post("/v1/payments", json=body, headers=idempotency_key())


def intents_for(stripe_api: FakeStripe, attempt_key: str) -> list[dict[str, Any]]:
    return [
        intent
        for intent in stripe_api.payment_intents.values()
        if intent["metadata"].get("attempt_key") == attempt_key
    ]


async def completions_of(
    api: httpx.AsyncClient, events: EventLog, cid: str, payment_id: str
) -> list[dict[str, Any]]:
    """The payment's completions, once a later payment of its campaign completed: the same
    campaign keys the same partition, so any earlier completion has been seen by then."""
    sentinel = (await pay(api, payment_request(cid))).json()["id"]
    await events.wait_for(
        PAYMENT_COMPLETED,
        lambda e: for_campaign(cid)(e) and e["data"]["payment_id"] == sentinel,
    )
    return [
        e
        for e in events.matching(PAYMENT_COMPLETED, for_campaign(cid))
        if e["data"]["payment_id"] == payment_id
    ]


async def test_paypal_payment_that_timed_out_is_completed_by_reconciliation_and_announced_once(
    api: httpx.AsyncClient, reconciler: Reconciler, events: EventLog
) -> None:
    cid = campaign_id()
    body = payment_request(cid, payment_method="paypal", payment_token="sandbox_timeout")
    response = await pay(api, body)

    assert response.status_code == 202, response.text
    taken = response.json()
    assert taken["status"] == "processing"
    [attempt] = taken["attempts"]
    assert (attempt["outcome"], attempt["error_code"]) == ("unknown", "timeout")

    assert await reconciler.run_once(datetime.now(UTC)) == 1
    assert await reconciler.run_once(datetime.now(UTC)) == 0

    settled = await current(api, taken["id"])
    assert settled["status"] == "completed"
    assert settled["processor_transaction_id"].startswith("paypal_")
    assert settled["status_history"][-1]["actor"] == "reconciliation"
    assert settled["fee"] == usd("5.72")
    [completed] = await completions_of(api, events, cid, taken["id"])
    assert completed["data"]["fee"] == usd("5.72")


async def test_card_payment_stripe_never_received_is_sent_again_under_its_key_and_completed(
    api: httpx.AsyncClient, reconciler: Reconciler, stripe_api: FakeStripe, events: EventLog
) -> None:
    """Stripe answered 500 before doing anything, every time the SDK tried: the payment is
    processing, and Stripe holds no PaymentIntent for it."""
    cid = campaign_id()
    stripe_api.fail_next(server_error(500), server_error(500), server_error(500))
    taken = (await pay(api, payment_request(cid))).json()
    attempt_key = f"{taken['id']}:stripe"
    assert taken["status"] == "processing"
    assert taken["attempts"][-1]["outcome"] == "unknown"

    assert await reconciler.run_once(datetime.now(UTC)) == 1

    settled = await current(api, taken["id"])
    assert settled["status"] == "completed"
    [attempt] = settled["attempts"]
    assert (attempt["attempt_key"], attempt["outcome"]) == (attempt_key, "approved")
    [intent] = intents_for(stripe_api, attempt_key)
    assert settled["processor_transaction_id"] == intent["id"]
    sent = stripe_api.requests_to("POST", "/v1/payment_intents")
    assert {r.idempotency_key for r in sent if r.metadata()["payment_id"] == taken["id"]} == {
        attempt_key
    }
    assert len(await completions_of(api, events, cid, taken["id"])) == 1


async def test_payment_the_processor_cannot_be_asked_about_is_settled_on_a_later_round(
    api: httpx.AsyncClient, reconciler: Reconciler, stripe_api: FakeStripe
) -> None:
    """Stripe charged, but every reply was lost; then its search fails for one round."""
    stripe_api.fail_next(drop(), drop(), drop())
    taken = (await pay(api, payment_request())).json()
    assert (taken["status"], taken["attempts"][-1]["error_code"]) == (
        "processing",
        "connection_lost",
    )

    stripe_api.fail_next(server_error(502), server_error(502), server_error(502))
    assert await reconciler.run_once(datetime.now(UTC)) == 0
    assert unchanged(await current(api, taken["id"]), taken)

    assert await reconciler.run_once(datetime.now(UTC)) == 1
    settled = await current(api, taken["id"])
    assert settled["status"] == "completed"
    [intent] = intents_for(stripe_api, f"{taken['id']}:stripe")
    assert settled["processor_transaction_id"] == intent["id"]


async def test_bitcoin_payment_is_processing_until_the_network_confirms_it_then_completed(
    api: httpx.AsyncClient, reconciler: Reconciler, crypto_api: FakeCrypto, events: EventLog
) -> None:
    cid = campaign_id()
    body = payment_request(cid, payment_method="bitcoin", payment_token="bc1q-customer-wallet")
    response = await pay(api, body)

    assert response.status_code == 202, response.text
    taken = response.json()
    [attempt] = taken["attempts"]
    assert (taken["status"], attempt["outcome"]) == ("processing", "pending")
    code = attempt["processor_reference"]
    assert crypto_api.charges[code]["metadata"]["attempt_key"] == attempt["attempt_key"]

    crypto_api.detect_payment(code)  # seen on chain, not final yet
    assert await reconciler.run_once(datetime.now(UTC)) == 0
    assert (await current(api, taken["id"]))["status"] == "processing"

    crypto_api.confirm(code)
    assert await reconciler.run_once(datetime.now(UTC)) == 1

    settled = await current(api, taken["id"])
    assert (settled["status"], settled["processor_transaction_id"]) == ("completed", code)
    assert settled["fee"] == usd("1.50")
    assert len(crypto_api.charges_for(attempt["attempt_key"])) == 1
    [completed] = await events.wait_for(
        PAYMENT_COMPLETED, lambda e: for_campaign(cid)(e) and e["data"]["payment_id"] == taken["id"]
    )
    assert completed["data"]["processor_transaction_id"] == code


async def test_payment_still_processing_past_the_limit_is_failed_and_flagged(
    api: httpx.AsyncClient, reconciler: Reconciler, events: EventLog
) -> None:
    cid = campaign_id()
    body = payment_request(cid, payment_method="ethereum", payment_token="0x-customer-wallet")
    taken = (await pay(api, body)).json()
    assert taken["status"] == "processing"

    assert await reconciler.run_once(datetime.now(UTC) + LIMIT / 2) == 0
    assert await reconciler.run_once(datetime.now(UTC) + LIMIT) == 1

    failed = await current(api, taken["id"])
    assert (failed["status"], failed["failure_reason"]) == ("failed", "reconciliation_timeout")
    assert failed["flags"] == ["reconciliation_timeout"]
    last = failed["status_history"][-1]
    assert (last["from"], last["to"], last["actor"], last["reason"]) == (
        "processing",
        "failed",
        "reconciliation",
        "reconciliation_timeout",
    )
    [announced] = await events.wait_for(
        PAYMENT_FAILED, lambda e: for_campaign(cid)(e) and e["data"]["payment_id"] == taken["id"]
    )
    assert announced["data"]["failure_reason"] == "reconciliation_timeout"
