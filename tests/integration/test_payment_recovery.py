"""Nothing is stranded and nothing is charged twice when a payment's owner crashes, fails, or
is merely slow: reconciliation against the real broker and database, with Stripe, PayPal
and the crypto gateway played by local servers.

A crash leaves the database as it was at the last commit; the tests that start from such
a state write it as the crashed process left it, in the stored record's shape. A call in
flight is a request held at the fake processor until the test releases it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest

from services.payment.app import PaymentService, assemble
from services.payment.settings import PaymentSettings
from tests.support import fake_crypto, fake_paypal
from tests.support.factories import campaign_id, payment_request
from tests.support.fake_crypto import FakeCrypto
from tests.support.fake_paypal import FakePayPal
from tests.support.fake_stripe import FAKE_API_KEY, FakeStripe, garble, server_error
from tests.support.payment_service import (
    ROUNDS_RUN_BY_THE_TEST,
    WITHOUT_RISK_HOLDS,
    current,
    idempotency_key,
    payment_settings,
    raw_database,
)
from tests.support.stranded_payments import stranded_payment

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure


@pytest.fixture(scope="module")
def settings(
    infra: TestInfrastructure,
    stripe_api: FakeStripe,
    paypal_api: FakePayPal,
    crypto_api: FakeCrypto,
) -> PaymentSettings:
    return payment_settings(
        infra,
        "recovery",
        stripe_api_key=FAKE_API_KEY,
        stripe_api_base_url=stripe_api.base_url,
        paypal_client_id=fake_paypal.CLIENT_ID,
        paypal_client_secret=fake_paypal.CLIENT_SECRET,
        paypal_api_base_url=paypal_api.base_url,
        crypto_api_key=fake_crypto.API_KEY,
        crypto_api_base_url=crypto_api.base_url,
        **ROUNDS_RUN_BY_THE_TEST,
        **WITHOUT_RISK_HOLDS,
    )


def now() -> datetime:
    return datetime.now(UTC)


async def test_payment_whose_processor_answer_breaks_the_adapter_is_settled_and_replayed(
    api: httpx.AsyncClient, payment: PaymentService, stripe_api: FakeStripe
) -> None:
    """Any exception after the key was claimed: the key still ends with the real answer."""
    body, key = payment_request(campaign_id()), idempotency_key()
    stripe_api.fail_next(garble())

    first = await api.post("/v1/payments", json=body, headers=key)
    assert first.status_code in (202, 500), first.text

    await payment.reconciler.run_once(now() + timedelta(hours=1))
    retried = await api.post("/v1/payments", json=body, headers=key)

    assert retried.status_code == 201, retried.text
    assert retried.headers.get("idempotent-replayed") == "true"
    assert retried.json()["status"] == "completed"


async def test_payment_left_pending_by_a_crash_is_charged_and_its_key_answered(
    api: httpx.AsyncClient, payment: PaymentService, settings: PaymentSettings
) -> None:
    body, key = payment_request(campaign_id()), idempotency_key()
    async with raw_database(settings) as db:
        payment_id = await stranded_payment(
            db, body, key, status="pending", age=timedelta(minutes=5)
        )

    await payment.reconciler.run_once(now())

    settled = await current(api, payment_id)
    assert settled["status"] == "completed"
    retried = await api.post("/v1/payments", json=body, headers=key)
    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] == payment_id


async def test_payment_approved_by_a_reviewer_just_before_a_crash_is_charged(
    api: httpx.AsyncClient, payment: PaymentService, settings: PaymentSettings
) -> None:
    body, key = payment_request(campaign_id()), idempotency_key()
    decision = {"decision": "approve", "reviewer": "ana"}
    async with raw_database(settings) as db:
        payment_id = await stranded_payment(
            db, body, key, status="approved", age=timedelta(minutes=5), review=decision
        )

    await payment.reconciler.run_once(now())

    settled = await current(api, payment_id)
    assert settled["status"] == "completed"
    assert [a["outcome"] for a in settled["attempts"]] == ["approved"]
    replayed = await api.post(f"/v1/payments/{payment_id}/review", json=decision, headers=key)
    assert replayed.status_code == 201, replayed.text
    assert replayed.json()["status"] == "completed"


async def test_one_payment_that_breaks_reconciliation_does_not_stop_the_others(
    api: httpx.AsyncClient, payment: PaymentService, stripe_api: FakeStripe
) -> None:
    never_sent = [server_error(500)] * 3  # the SDK's three tries, each refused unprocessed
    stripe_api.fail_next(*never_sent)
    broken = await api.post("/v1/payments", json=payment_request(), headers=idempotency_key())
    stripe_api.fail_next(*never_sent)
    healthy = await api.post("/v1/payments", json=payment_request(), headers=idempotency_key())
    assert (broken.status_code, healthy.status_code) == (202, 202)

    stripe_api.fail_next(garble())  # the first lookup of the round, the older payment's
    await payment.reconciler.run_once(now())

    assert (await current(api, healthy.json()["id"]))["status"] == "completed"
    still = await current(api, broken.json()["id"])
    assert still["status"] == "processing"


async def test_reconciliation_leaves_a_call_in_flight_to_its_live_owner(
    api: httpx.AsyncClient,
    settings: PaymentSettings,
    crypto_api: FakeCrypto,
) -> None:
    """The owner's charge is held at the gateway for longer than any fixed window; another
    replica's round, with adapters of its own, must not charge the attempt a second time."""
    body = payment_request(campaign_id(), payment_method="ethereum", payment_token="0xwallet")
    hold = crypto_api.hold_next("create_charge")
    owner = asyncio.create_task(api.post("/v1/payments", json=body, headers=idempotency_key()))
    await hold.until_arrived()

    other_replica = assemble(settings)
    await other_replica.reconciler.run_once(now() + timedelta(hours=2))
    hold.release()
    taken = await owner

    assert taken.status_code == 202, taken.text
    attempt_key = taken.json()["attempts"][-1]["attempt_key"]
    assert len(crypto_api.charges_for(attempt_key)) == 1


async def test_paypal_attempt_past_paypals_request_id_window_is_flagged_not_sent_again(
    api: httpx.AsyncClient, payment: PaymentService, paypal_api: FakePayPal
) -> None:
    body = payment_request(
        campaign_id(), payment_method="paypal", payment_token=f"B-{campaign_id()}"
    )
    paypal_api.fail_next("capture", 500)  # refused before PayPal captured anything
    taken = await api.post("/v1/payments", json=body, headers=idempotency_key())
    assert taken.status_code == 202, taken.text
    captures_before = len(paypal_api.calls("capture"))

    await payment.reconciler.run_once(now() + timedelta(hours=7))

    assert len(paypal_api.calls("capture")) == captures_before
    flagged = await current(api, taken.json()["id"])
    assert flagged["status"] == "processing"
    assert flagged["flags"], "a person must look at it"
