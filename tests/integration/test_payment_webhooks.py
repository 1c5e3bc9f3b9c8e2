"""Processor webhooks over real HTTP, against the real broker and database, with Stripe,
PayPal and the crypto gateway played by local servers that the real adapters call."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from services.payment.settings import PaymentSettings
from shared.events.topics import PAYMENT_COMPLETED
from tests.support import fake_crypto, fake_paypal
from tests.support.factories import campaign_id, payment_request
from tests.support.fake_crypto import FakeCrypto, signed_webhook
from tests.support.fake_paypal import FakePayPal
from tests.support.fake_stripe import (
    FAKE_API_KEY,
    FAKE_WEBHOOK_SECRET,
    FakeStripe,
    sign_webhook,
)
from tests.support.kafka import EventLog, for_campaign
from tests.support.payment_service import (
    WITHOUT_RISK_HOLDS,
    RawDatabase,
    base_url,
    current,
    idempotency_key,
    payment_api,
    payment_settings,
    raw_database,
)

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure

CRYPTO_WEBHOOK_SECRET = "crypto-webhook-shared-secret"
PAYPAL_WEBHOOK_ID = "8PT597110X687430LKGECATA"
PAYPAL_PENDING = "sandbox_pending"  # fake PayPal holds the capture of this billing agreement


@pytest.fixture(scope="module")
def settings(
    infra: TestInfrastructure,
    stripe_api: FakeStripe,
    crypto_api: FakeCrypto,
    paypal_api: FakePayPal,
) -> PaymentSettings:
    return payment_settings(
        infra,
        "webhooks",
        stripe_api_key=FAKE_API_KEY,
        stripe_api_base_url=stripe_api.base_url,
        stripe_webhook_secret=FAKE_WEBHOOK_SECRET,
        paypal_client_id=fake_paypal.CLIENT_ID,
        paypal_client_secret=fake_paypal.CLIENT_SECRET,
        paypal_api_base_url=paypal_api.base_url,
        paypal_webhook_id=PAYPAL_WEBHOOK_ID,
        crypto_api_key=fake_crypto.API_KEY,
        crypto_api_base_url=crypto_api.base_url,
        crypto_webhook_secret=CRYPTO_WEBHOOK_SECRET,
        # Only webhooks settle payments here: reconciliation never ticks.
        payment_reconciliation_interval_seconds=3600,
        **WITHOUT_RISK_HOLDS,
    )


@pytest.fixture(scope="module")
async def api(settings: PaymentSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with payment_api(settings) as client:
        yield client


@pytest.fixture
async def processor(
    settings: PaymentSettings, api: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A processor delivering webhooks to the running service: it has no API key, only its
    signature."""
    async with httpx.AsyncClient(base_url=base_url(settings), timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def raw_db(settings: PaymentSettings) -> AsyncIterator[RawDatabase]:
    async with raw_database(settings) as db:
        yield db


async def pay(api: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/v1/payments", json=body, headers=idempotency_key())
    assert response.status_code in (201, 202), response.text
    taken: dict[str, Any] = response.json()
    return taken


async def bank_debit(
    api: httpx.AsyncClient, stripe_api: FakeStripe, cid: str | None = None
) -> dict[str, Any]:
    """A card payment Stripe has accepted but not settled (a bank debit): ``processing``."""
    token = f"pm_bank_debit_{uuid.uuid4().hex[:12]}"
    stripe_api.payment_methods[token] = ("processing", None, None)
    taken = await pay(api, payment_request(cid, payment_token=token))
    assert (taken["status"], taken["attempts"][-1]["outcome"]) == ("processing", "pending")
    return taken


def wallet() -> str:
    return f"wallet-{uuid.uuid4().hex}"


def intent_of(stripe_api: FakeStripe, payment: dict[str, Any]) -> dict[str, Any]:
    intent: dict[str, Any] = stripe_api.payment_intents[
        payment["attempts"][-1]["processor_reference"]
    ]
    return intent


def succeed_at_stripe(stripe_api: FakeStripe, payment: dict[str, Any]) -> dict[str, Any]:
    intent = intent_of(stripe_api, payment)
    intent.update(status="succeeded", amount_received=intent["amount"])
    return intent


def stripe_event(intent: dict[str, Any], kind: str, event_id: str | None = None) -> bytes:
    """An event as Stripe sends it: a snapshot of the object when the event happened."""
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": dict(intent)},
    }
    return json.dumps(event).encode()


def event_id_of(payload: bytes) -> str:
    return str(json.loads(payload)["id"])


async def deliver_to_stripe_endpoint(
    processor: httpx.AsyncClient, payload: bytes, signature: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    headers["Stripe-Signature"] = signature or sign_webhook(payload, FAKE_WEBHOOK_SECRET)
    return await processor.post("/v1/webhooks/stripe", content=payload, headers=headers)


def searches(stripe_api: FakeStripe) -> int:
    return len(stripe_api.requests_to("GET", "/v1/payment_intents/search"))


async def test_signed_stripe_event_settles_the_payment_as_stripe_reports_it(
    api: httpx.AsyncClient,
    processor: httpx.AsyncClient,
    stripe_api: FakeStripe,
    events: EventLog,
    raw_db: RawDatabase,
) -> None:
    cid = campaign_id()
    taken = await bank_debit(api, stripe_api, cid)
    intent = succeed_at_stripe(stripe_api, taken)
    payload = stripe_event(intent, "payment_intent.succeeded")

    response = await deliver_to_stripe_endpoint(processor, payload)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "event_id": event_id_of(payload),
        "result": "processed",
        "payment_id": taken["id"],
        "payment_status": "completed",
    }
    settled = await current(api, taken["id"])
    assert (settled["status"], settled["processor_transaction_id"]) == ("completed", intent["id"])
    assert settled["status_history"][-1]["actor"] == "webhook:stripe"
    [completed] = await events.wait_for(
        PAYMENT_COMPLETED, lambda e: for_campaign(cid)(e) and e["data"]["payment_id"] == taken["id"]
    )
    assert completed["data"]["processor_transaction_id"] == settled["processor_transaction_id"]
    assert await raw_db["webhook_events"].find_one({"_id": f"stripe:{event_id_of(payload)}"})


async def test_stripe_event_claiming_success_changes_nothing_while_stripe_says_processing(
    api: httpx.AsyncClient, processor: httpx.AsyncClient, stripe_api: FakeStripe
) -> None:
    taken = await bank_debit(api, stripe_api)
    claimed = intent_of(stripe_api, taken) | {"status": "succeeded"}  # Stripe says otherwise

    response = await deliver_to_stripe_endpoint(
        processor, stripe_event(claimed, "payment_intent.succeeded")
    )

    assert response.status_code == 200, response.text
    assert response.json()["payment_status"] == "processing"
    after = await current(api, taken["id"])
    assert after["status"] == "processing"
    assert (after["status_history"], after["attempts"]) == (
        taken["status_history"],
        taken["attempts"],
    )


async def test_stripe_event_delivered_twice_is_processed_once(
    api: httpx.AsyncClient, processor: httpx.AsyncClient, stripe_api: FakeStripe
) -> None:
    taken = await bank_debit(api, stripe_api)
    payload = stripe_event(succeed_at_stripe(stripe_api, taken), "payment_intent.succeeded")

    first = await deliver_to_stripe_endpoint(processor, payload)
    asked = searches(stripe_api)
    again = await deliver_to_stripe_endpoint(processor, payload)

    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json()["result"], again.json()["result"]) == ("processed", "duplicate")
    assert searches(stripe_api) == asked  # the repeat did not even ask Stripe
    settled = await current(api, taken["id"])
    assert settled["status"] == "completed"
    assert [c["to"] for c in settled["status_history"]].count("completed") == 1


async def test_stale_stripe_event_arriving_after_success_changes_nothing(
    api: httpx.AsyncClient, processor: httpx.AsyncClient, stripe_api: FakeStripe
) -> None:
    taken = await bank_debit(api, stripe_api)
    stale = stripe_event(intent_of(stripe_api, taken), "payment_intent.processing")
    succeeded = stripe_event(succeed_at_stripe(stripe_api, taken), "payment_intent.succeeded")

    await deliver_to_stripe_endpoint(processor, succeeded)
    settled = await current(api, taken["id"])
    late = await deliver_to_stripe_endpoint(processor, stale)

    assert late.status_code == 200, late.text
    assert late.json()["payment_status"] == "completed"
    assert await current(api, taken["id"]) == settled


@pytest.mark.parametrize(
    "signature",
    [
        lambda payload: sign_webhook(payload, "whsec_someone_else"),
        lambda payload: sign_webhook(payload, FAKE_WEBHOOK_SECRET, int(time.time()) - 301),
        lambda payload: sign_webhook(
            payload.replace(b"succeeded", b"canceled"), FAKE_WEBHOOK_SECRET
        ),
        lambda payload: "",
    ],
    ids=["other-secret", "older-than-tolerance", "body-tampered", "unsigned"],
)
async def test_stripe_event_without_a_valid_signature_is_refused_and_changes_nothing(
    api: httpx.AsyncClient,
    processor: httpx.AsyncClient,
    stripe_api: FakeStripe,
    raw_db: RawDatabase,
    signature: Any,
) -> None:
    taken = await bank_debit(api, stripe_api)
    payload = stripe_event(succeed_at_stripe(stripe_api, taken), "payment_intent.succeeded")
    asked = searches(stripe_api)

    response = await processor.post(
        "/v1/webhooks/stripe", content=payload, headers={"Stripe-Signature": signature(payload)}
    )

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_signature"
    assert "Stripe-Signature" in error["message"]
    assert (await current(api, taken["id"]))["status"] == "processing"
    assert searches(stripe_api) == asked
    assert (
        await raw_db["webhook_events"].find_one({"_id": f"stripe:{event_id_of(payload)}"}) is None
    )


async def test_stripe_event_about_no_payment_of_ours_is_acknowledged(
    processor: httpx.AsyncClient,
) -> None:
    stranger = {"id": "pi_not_ours", "object": "payment_intent", "metadata": {}}

    response = await deliver_to_stripe_endpoint(
        processor, stripe_event(stranger, "payment_intent.succeeded")
    )

    assert response.status_code == 200, response.text
    assert (response.json()["result"], response.json()["payment_id"]) == ("ignored", None)


async def test_signed_crypto_event_completes_a_payment_the_network_confirmed(
    api: httpx.AsyncClient, processor: httpx.AsyncClient, crypto_api: FakeCrypto
) -> None:
    body = payment_request(payment_method="bitcoin", payment_token=wallet())
    taken = await pay(api, body)
    code = taken["attempts"][-1]["processor_reference"]
    assert taken["status"] == "processing"
    crypto_api.confirm(code)
    payload, signature = signed_webhook(
        crypto_api.charges[code], "charge:confirmed", CRYPTO_WEBHOOK_SECRET
    )

    response = await processor.post(
        "/v1/webhooks/crypto", content=payload, headers={"X-CC-Webhook-Signature": signature}
    )

    assert response.status_code == 200, response.text
    assert response.json()["result"] == "processed"
    settled = await current(api, taken["id"])
    assert (settled["status"], settled["processor_transaction_id"]) == ("completed", code)
    assert settled["status_history"][-1]["actor"] == "webhook:crypto"


async def test_crypto_event_with_a_tampered_body_is_refused_and_changes_nothing(
    api: httpx.AsyncClient, processor: httpx.AsyncClient, crypto_api: FakeCrypto
) -> None:
    body = payment_request(payment_method="ethereum", payment_token=wallet())
    taken = await pay(api, body)
    code = taken["attempts"][-1]["processor_reference"]
    crypto_api.confirm(code)
    payload, signature = signed_webhook(
        crypto_api.charges[code], "charge:confirmed", CRYPTO_WEBHOOK_SECRET
    )

    response = await processor.post(
        "/v1/webhooks/crypto",
        content=payload.replace(b"COMPLETED", b"CONFIRMED"),
        headers={"X-CC-Webhook-Signature": signature},
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_signature"
    assert (await current(api, taken["id"]))["status"] == "processing"


def capture_event(paypal_api: FakePayPal, payment: dict[str, Any]) -> dict[str, Any]:
    [order] = paypal_api.orders_for(payment["attempts"][-1]["attempt_key"])
    capture = order["purchase_units"][0]["payments"]["captures"][0]
    capture["status"] = "COMPLETED"  # PayPal's review cleared the pending capture
    return {
        "id": f"WH-{uuid.uuid4().hex[:20].upper()}",
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "resource_type": "capture",
        "resource": dict(capture),
    }


async def test_paypal_event_paypal_confirms_settles_the_payment(
    api: httpx.AsyncClient, processor: httpx.AsyncClient, paypal_api: FakePayPal
) -> None:
    taken = await pay(api, payment_request(payment_method="paypal", payment_token=PAYPAL_PENDING))
    assert (taken["status"], taken["attempts"][-1]["outcome"]) == ("processing", "pending")
    event = capture_event(paypal_api, taken)
    headers = paypal_api.sign_webhook(event, PAYPAL_WEBHOOK_ID)

    response = await processor.post(
        "/v1/webhooks/paypal", content=json.dumps(event).encode(), headers=headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["result"] == "processed"
    settled = await current(api, taken["id"])
    assert (settled["status"], settled["processor_transaction_id"]) == (
        "completed",
        event["resource"]["id"],
    )
    [asked] = paypal_api.calls("verify_webhook")[-1:]
    assert asked.body["webhook_id"] == PAYPAL_WEBHOOK_ID


async def test_paypal_event_paypal_did_not_send_is_refused_and_changes_nothing(
    api: httpx.AsyncClient, processor: httpx.AsyncClient, paypal_api: FakePayPal
) -> None:
    taken = await pay(api, payment_request(payment_method="paypal", payment_token=PAYPAL_PENDING))
    event = capture_event(paypal_api, taken)
    headers = paypal_api.sign_webhook(event, PAYPAL_WEBHOOK_ID)
    forged = event | {"resource": event["resource"] | {"custom_id": "pay_someone_else"}}

    response = await processor.post(
        "/v1/webhooks/paypal", content=json.dumps(forged).encode(), headers=headers
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_signature"
    assert (await current(api, taken["id"]))["status"] == "processing"


async def test_paypal_event_paypal_cannot_verify_now_answers_503_so_it_is_delivered_again(
    api: httpx.AsyncClient,
    processor: httpx.AsyncClient,
    paypal_api: FakePayPal,
    raw_db: RawDatabase,
) -> None:
    taken = await pay(api, payment_request(payment_method="paypal", payment_token=PAYPAL_PENDING))
    event = capture_event(paypal_api, taken)
    headers = paypal_api.sign_webhook(event, PAYPAL_WEBHOOK_ID)
    paypal_api.fail_next("verify_webhook", 503)

    response = await processor.post(
        "/v1/webhooks/paypal", content=json.dumps(event).encode(), headers=headers
    )

    assert response.status_code == 503, response.text
    assert response.json()["error"]["type"] == "verification_unavailable"
    assert (await current(api, taken["id"]))["status"] == "processing"
    assert await raw_db["webhook_events"].find_one({"_id": f"paypal:{event['id']}"}) is None


@pytest.fixture(scope="module")
async def unconfigured(infra: TestInfrastructure) -> AsyncIterator[httpx.AsyncClient]:
    """A deployment with no webhook secret, and the sandbox for every processor, called as
    a processor calls it."""
    settings = payment_settings(infra, "webhooks_unconfigured")
    async with payment_api(settings), httpx.AsyncClient(base_url=base_url(settings)) as client:
        yield client


@pytest.mark.parametrize(
    ("processor_name", "setting"),
    [
        ("stripe", "STRIPE_WEBHOOK_SECRET"),
        ("paypal", "PAYPAL_WEBHOOK_ID"),
        ("crypto", "CRYPTO_WEBHOOK_SECRET"),
    ],
)
async def test_webhook_of_a_processor_without_its_secret_answers_503_naming_the_setting(
    unconfigured: httpx.AsyncClient, processor_name: str, setting: str
) -> None:
    response = await unconfigured.post(f"/v1/webhooks/{processor_name}", content=b"{}")

    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["type"] == "webhook_not_configured"
    assert setting in error["message"]
