"""The PayPal adapter over HTTP against a local server that plays PayPal's REST API."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest

from services.payment.processors import (
    Charge,
    OutcomeUnknownError,
    ProcessorUnavailableError,
    RefundOrder,
)
from services.payment.processors.paypal import PayPalProcessor, verify_paypal_webhook
from shared.money import Money
from tests.support.factories import BILLING_AGREEMENT, charge_request
from tests.support.fake_api import refused_url
from tests.support.fake_paypal import CLIENT_ID, CLIENT_SECRET, FakePayPal

# Well past the adapter's timeout: how a reply lost on the way looks to the adapter.
LATE_SECONDS = 6.0
WEBHOOK_ID = "8PT597110X687430LKGECATA"
CAPTURE_COMPLETED = (
    b'{"id": "WH-2WR32451HC0233532-67976317FL4543714", '
    b'"event_type": "PAYMENT.CAPTURE.COMPLETED", '
    b'"resource": {"id": "42311647XV020574X", "amount": {"currency_code": "USD", '
    b'"value": "149.90"}}}'
)


def refund_of(charge: Charge, capture_id: str, amount: str) -> RefundOrder:
    return RefundOrder(
        refund_id=f"ref_{uuid.uuid4()}",
        payment_id=charge.payment_id,
        processor_transaction_id=capture_id,
        amount=Money.of(amount, charge.amount.currency),
        reason="item returned",
    )


@pytest.fixture
async def paypal(paypal_api: FakePayPal) -> AsyncIterator[PayPalProcessor]:
    paypal_api.reset()
    processor = PayPalProcessor(
        CLIENT_ID, CLIENT_SECRET, base_url=paypal_api.base_url, timeout_seconds=2.0
    )
    yield processor
    await processor.close()


@pytest.mark.parametrize(("amount", "currency"), [("149.90", "USD"), ("1500", "JPY")])
async def test_approved_charge_captures_an_order_for_the_exact_amount(
    paypal: PayPalProcessor, paypal_api: FakePayPal, amount: str, currency: str
) -> None:
    charge = charge_request("paypal", amount=Money.of(amount, currency))

    outcome = await paypal.charge(charge)

    [order] = paypal_api.orders_for(charge.idempotency_key)
    [capture] = order["purchase_units"][0]["payments"]["captures"]
    assert outcome.approved
    assert outcome.processor_transaction_id == capture["id"]
    [created] = paypal_api.calls("create_order")
    [unit] = created.body["purchase_units"]
    assert unit["amount"] == {"currency_code": currency, "value": amount}
    assert (unit["custom_id"], unit["invoice_id"]) == (charge.payment_id, charge.attempt_key)
    assert "payment_source" not in created.body
    assert created.headers["paypal-request-id"] == charge.idempotency_key
    [captured] = paypal_api.calls("capture")
    assert captured.body == {
        "payment_source": {"token": {"id": BILLING_AGREEMENT, "type": "BILLING_AGREEMENT"}}
    }
    assert captured.headers["paypal-request-id"] == f"{charge.idempotency_key}:capture"


@pytest.mark.parametrize(
    ("token", "reason"),
    [("sandbox_decline", "instrument_declined"), ("sandbox_capture_declined", "declined")],
)
async def test_declined_billing_agreement_is_a_declined_outcome_with_paypal_reason(
    paypal: PayPalProcessor, token: str, reason: str
) -> None:
    outcome = await paypal.charge(charge_request("paypal", payment_token=token))

    assert not outcome.approved
    assert outcome.failure_reason == reason


async def test_capture_held_for_review_is_a_pending_outcome(paypal: PayPalProcessor) -> None:
    outcome = await paypal.charge(charge_request("paypal", payment_token="sandbox_pending"))

    assert outcome.pending
    assert outcome.failure_reason is None
    assert outcome.processor_transaction_id


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_paypal_failing_to_create_the_order_is_unavailable_and_captures_nothing(
    paypal: PayPalProcessor, paypal_api: FakePayPal, status: int
) -> None:
    paypal_api.fail_next("create_order", status)

    with pytest.raises(ProcessorUnavailableError):
        await paypal.charge(charge_request("paypal"))

    assert paypal_api.calls("capture") == []


async def test_unreachable_paypal_is_unavailable() -> None:
    processor = PayPalProcessor(CLIENT_ID, CLIENT_SECRET, base_url=refused_url())
    try:
        with pytest.raises(ProcessorUnavailableError) as raised:
            await processor.charge(charge_request("paypal"))
    finally:
        await processor.close()

    assert raised.value.code == "connection_failed"


async def test_order_created_too_late_is_unavailable_and_a_retry_reuses_that_order(
    paypal: PayPalProcessor, paypal_api: FakePayPal
) -> None:
    charge = charge_request("paypal")
    paypal_api.slow_next("create_order", LATE_SECONDS)

    with pytest.raises(ProcessorUnavailableError) as raised:
        await paypal.charge(charge)
    retried = await paypal.charge(charge)

    assert raised.value.code == "timeout"
    assert retried.approved
    assert len(paypal_api.orders_for(charge.idempotency_key)) == 1


async def test_capture_answered_too_late_is_unknown_until_lookup_finds_it(
    paypal: PayPalProcessor, paypal_api: FakePayPal
) -> None:
    charge = charge_request("paypal")
    paypal_api.slow_next("capture", LATE_SECONDS)

    with pytest.raises(OutcomeUnknownError) as raised:
        await paypal.charge(charge)
    found = await paypal.lookup(charge)

    assert raised.value.code == "timeout"
    [order] = paypal_api.orders_for(charge.idempotency_key)
    [capture] = order["purchase_units"][0]["payments"]["captures"]
    assert found is not None
    assert found.approved
    assert found.processor_transaction_id == capture["id"]
    assert len(paypal_api.calls("capture")) == 1


async def test_server_error_on_capture_is_unknown_and_charging_again_captures_once(
    paypal: PayPalProcessor, paypal_api: FakePayPal
) -> None:
    charge = charge_request("paypal")
    paypal_api.fail_next("capture", 500)

    with pytest.raises(OutcomeUnknownError) as raised:
        await paypal.charge(charge)
    before_retry = await paypal.lookup(charge)
    retried = await paypal.charge(charge)

    assert raised.value.code == "server_error"
    assert before_retry is None
    assert retried.approved
    assert len(paypal_api.captures()) == 1


async def test_lookup_of_an_attempt_paypal_never_saw_is_none_and_takes_no_money(
    paypal: PayPalProcessor, paypal_api: FakePayPal
) -> None:
    assert await paypal.lookup(charge_request("paypal")) is None

    assert paypal_api.calls("capture") == []
    assert paypal_api.captures() == []


async def test_charging_the_same_attempt_twice_makes_one_order_and_one_capture(
    paypal: PayPalProcessor, paypal_api: FakePayPal
) -> None:
    charge = charge_request("paypal")

    first = await paypal.charge(charge)
    second = await paypal.charge(charge)

    assert second == first
    assert len(paypal_api.orders_for(charge.idempotency_key)) == 1
    assert len(paypal_api.captures()) == 1
    sent_ids = {call.headers["paypal-request-id"] for call in paypal_api.calls("create_order")}
    assert sent_ids == {charge.idempotency_key}


async def test_two_charges_share_one_access_token(
    paypal: PayPalProcessor, paypal_api: FakePayPal
) -> None:
    await paypal.charge(charge_request("paypal"))
    await paypal.charge(charge_request("paypal"))

    [granted] = paypal_api.calls("token")
    assert granted.body == {"grant_type": "client_credentials"}
    assert granted.headers["authorization"].startswith("Basic ")


async def test_token_about_to_expire_is_never_reused(
    paypal: PayPalProcessor, paypal_api: FakePayPal
) -> None:
    paypal_api.token_lifetime_seconds = 30  # inside the adapter's renewal margin

    await paypal.charge(charge_request("paypal"))
    await paypal.charge(charge_request("paypal"))

    authorised = paypal_api.calls("create_order") + paypal_api.calls("capture")
    assert len({call.headers["authorization"] for call in authorised}) == len(authorised) == 4
    assert len(paypal_api.calls("token")) == 4


async def test_revoked_token_is_renewed_once_and_the_charge_goes_through(
    paypal: PayPalProcessor, paypal_api: FakePayPal
) -> None:
    await paypal.charge(charge_request("paypal"))
    paypal_api.revoke_tokens()
    charge = charge_request("paypal")

    outcome = await paypal.charge(charge)

    assert outcome.approved
    assert len(paypal_api.calls("token")) == 2
    refused, repeated = paypal_api.calls("create_order")[1:]
    assert refused.headers["paypal-request-id"] == repeated.headers["paypal-request-id"]
    assert refused.headers["authorization"] != repeated.headers["authorization"]
    assert len(paypal_api.orders_for(charge.idempotency_key)) == 1


async def test_refused_credentials_make_paypal_unavailable(paypal_api: FakePayPal) -> None:
    paypal_api.reset()
    processor = PayPalProcessor(CLIENT_ID, "not-the-secret", base_url=paypal_api.base_url)
    try:
        with pytest.raises(ProcessorUnavailableError) as raised:
            await processor.charge(charge_request("paypal"))
    finally:
        await processor.close()

    assert raised.value.code == "authentication_failed"
    assert paypal_api.calls("create_order") == []


async def test_partial_refund_sends_the_exact_amount_once_under_the_refund_id(
    paypal: PayPalProcessor, paypal_api: FakePayPal
) -> None:
    charge = charge_request("paypal", amount=Money.of("149.90", "USD"))
    capture_id = (await paypal.charge(charge)).processor_transaction_id
    assert capture_id is not None
    refund = refund_of(charge, capture_id, "40.10")

    refunded = await paypal.refund(refund)
    again = await paypal.refund(refund)

    assert refunded.succeeded
    assert again == refunded
    first, repeated = paypal_api.calls("refund")
    assert first.body["amount"] == {"currency_code": "USD", "value": "40.10"}
    assert first.headers["paypal-request-id"] == repeated.headers["paypal-request-id"]
    assert first.headers["paypal-request-id"] == refund.refund_id
    [capture] = paypal_api.captures()
    assert capture["status"] == "PARTIALLY_REFUNDED"


async def test_refund_beyond_what_is_left_fails_with_paypal_reason(
    paypal: PayPalProcessor,
) -> None:
    charge = charge_request("paypal", amount=Money.of("149.90", "USD"))
    capture_id = (await paypal.charge(charge)).processor_transaction_id
    assert capture_id is not None
    assert (await paypal.refund(refund_of(charge, capture_id, "149.90"))).succeeded

    outcome = await paypal.refund(refund_of(charge, capture_id, "0.01"))

    assert not outcome.succeeded
    assert outcome.failure_reason == "refund_amount_exceeded"


async def test_webhook_paypal_signed_is_verified(
    paypal: PayPalProcessor, paypal_api: FakePayPal
) -> None:
    headers = paypal_api.sign_webhook(json.loads(CAPTURE_COMPLETED), WEBHOOK_ID)
    as_received = {name.lower(): value for name, value in headers.items()}

    assert await verify_paypal_webhook(paypal, as_received, CAPTURE_COMPLETED, WEBHOOK_ID)

    [asked] = paypal_api.calls("verify_webhook")
    assert asked.body["webhook_id"] == WEBHOOK_ID
    assert asked.body["transmission_sig"] == headers["PAYPAL-TRANSMISSION-SIG"]
    assert asked.body["webhook_event"] == json.loads(CAPTURE_COMPLETED)


@pytest.mark.parametrize(
    ("body", "webhook_id"),
    [
        (CAPTURE_COMPLETED.replace(b"149.90", b"1.00"), WEBHOOK_ID),
        (CAPTURE_COMPLETED, "another-webhook"),
    ],
    ids=["tampered-event", "other-webhook"],
)
async def test_webhook_paypal_did_not_sign_is_rejected(
    paypal: PayPalProcessor, paypal_api: FakePayPal, body: bytes, webhook_id: str
) -> None:
    headers = paypal_api.sign_webhook(json.loads(CAPTURE_COMPLETED), WEBHOOK_ID)

    assert not await verify_paypal_webhook(paypal, headers, body, webhook_id)


async def test_webhook_without_transmission_headers_is_rejected_without_asking_paypal(
    paypal: PayPalProcessor, paypal_api: FakePayPal
) -> None:
    headers = paypal_api.sign_webhook(json.loads(CAPTURE_COMPLETED), WEBHOOK_ID)
    del headers["PAYPAL-TRANSMISSION-SIG"]

    assert not await verify_paypal_webhook(paypal, headers, CAPTURE_COMPLETED, WEBHOOK_ID)

    assert paypal_api.calls("verify_webhook") == []
