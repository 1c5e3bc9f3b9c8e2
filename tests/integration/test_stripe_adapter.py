"""The Stripe adapter: the official SDK against a local server that plays Stripe's API."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from services.payment.processors import (
    OutcomeUnknownError,
    ProcessorUnavailableError,
    RefundOrder,
)
from services.payment.processors.stripe import (
    StripeProcessor,
    WebhookVerificationError,
    verify_stripe_webhook,
)
from shared.money import Money
from tests.support.factories import charge_request
from tests.support.fake_stripe import (
    FAKE_API_KEY,
    FAKE_WEBHOOK_SECRET,
    FakeStripe,
    drop,
    server_error,
    sign_webhook,
    stall,
)
from tests.support.infrastructure import free_port

Connect = Callable[..., StripeProcessor]


@pytest.fixture(autouse=True)
def _fresh_stripe(stripe_api: FakeStripe) -> None:
    stripe_api.reset()


@pytest.fixture
async def connect(stripe_api: FakeStripe) -> AsyncIterator[Connect]:
    """Builds adapters; without SDK retries unless a test is about them."""
    built: list[StripeProcessor] = []

    def build(
        retries: int = 0,
        timeout: float = 10.0,
        base_url: str | None = None,
        api_key: str = FAKE_API_KEY,
    ) -> StripeProcessor:
        processor = StripeProcessor(api_key, base_url or stripe_api.base_url, timeout, retries)
        built.append(processor)
        return processor

    yield build
    for processor in built:
        await processor.close()


def stripe_event(intent_id: str = "pi_123") -> bytes:
    event = {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"id": intent_id, "object": "payment_intent", "status": "succeeded"}},
    }
    return json.dumps(event).encode()


async def test_approved_charge_sends_minor_units_metadata_and_idempotency_key(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    charge = charge_request()

    outcome = await connect().charge(charge)

    assert outcome.approved
    assert outcome.processor_transaction_id in stripe_api.payment_intents
    [sent] = stripe_api.requests_to("POST", "/v1/payment_intents")
    assert sent.form["amount"] == "14999"
    assert sent.form["currency"] == "usd"
    assert sent.form["confirm"] == "true"
    assert sent.form["payment_method"] == "pm_card_visa"
    assert sent.metadata() == {
        "payment_id": charge.payment_id,
        "attempt_key": charge.idempotency_key,
        "campaign_id": charge.campaign_id,
        "customer_id": charge.customer_id,
    }
    assert sent.idempotency_key == charge.idempotency_key
    assert sent.headers["authorization"] == f"Bearer {FAKE_API_KEY}"


@pytest.mark.parametrize(
    ("amount", "currency", "sent_amount"),
    [("0.07", "USD", "7"), ("1234.50", "EUR", "123450"), ("15000", "JPY", "15000")],
)
async def test_amounts_are_sent_in_exact_minor_units_including_zero_decimal_yen(
    stripe_api: FakeStripe, connect: Connect, amount: str, currency: str, sent_amount: str
) -> None:
    await connect().charge(charge_request(amount=Money.of(amount, currency)))

    [sent] = stripe_api.requests_to("POST", "/v1/payment_intents")
    assert (sent.form["amount"], sent.form["currency"]) == (sent_amount, currency.lower())


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("pm_card_chargeDeclined", "card_declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ],
)
async def test_declined_card_is_an_outcome_with_the_decline_code_and_lookup_agrees(
    stripe_api: FakeStripe, connect: Connect, token: str, reason: str
) -> None:
    processor, charge = connect(), charge_request(payment_token=token)

    outcome = await processor.charge(charge)

    assert (outcome.approved, outcome.failure_reason) == (False, reason)
    assert outcome.processor_transaction_id in stripe_api.payment_intents
    assert await processor.lookup(charge) == outcome


async def test_unknown_payment_method_is_declined_as_invalid_not_an_outage(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    outcome = await connect().charge(charge_request(payment_token="pm_made_up"))

    assert outcome.failure_reason == "invalid_payment_method"
    assert stripe_api.payment_intents == {}


async def test_unsettled_payment_is_pending(stripe_api: FakeStripe, connect: Connect) -> None:
    stripe_api.payment_methods["pm_bank_processing"] = ("processing", None, None)

    outcome = await connect().charge(charge_request(payment_token="pm_bank_processing"))

    assert outcome.pending
    assert not outcome.approved


async def test_server_errors_are_retried_by_the_sdk_then_reported_as_unknown_outcome(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    """Stripe calls a 5xx indeterminate; here the fake had charged nothing, as lookup shows."""
    processor, charge = connect(retries=2), charge_request()
    stripe_api.fail_next(server_error(500), server_error(500), server_error(500))

    with pytest.raises(OutcomeUnknownError) as raised:
        await processor.charge(charge)

    assert raised.value.code == "server_error"
    sent = stripe_api.requests_to("POST", "/v1/payment_intents")
    assert [r.idempotency_key for r in sent] == [charge.idempotency_key] * 3
    assert await processor.lookup(charge) is None


async def test_server_error_on_lookup_is_unavailable(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    stripe_api.fail_next(server_error(502))

    with pytest.raises(ProcessorUnavailableError) as raised:
        await connect().lookup(charge_request())

    assert raised.value.code == "server_error"


async def test_server_error_then_success_charges_once(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    stripe_api.fail_next(server_error(503))

    outcome = await connect(retries=2).charge(charge_request())

    assert outcome.approved
    assert len(stripe_api.requests_to("POST", "/v1/payment_intents")) == 2
    assert list(stripe_api.payment_intents) == [outcome.processor_transaction_id]


async def test_rate_limit_is_reported_unavailable(stripe_api: FakeStripe, connect: Connect) -> None:
    stripe_api.fail_next(server_error(429))

    with pytest.raises(ProcessorUnavailableError) as raised:
        await connect().charge(charge_request())

    assert raised.value.code == "rate_limited"


async def test_unreachable_stripe_is_unavailable(connect: Connect) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ProcessorUnavailableError) as raised:
        await connect(retries=1, base_url=nothing_listens).charge(charge_request())

    assert raised.value.code == "connection_failed"


async def test_timeout_after_sending_is_outcome_unknown_and_lookup_finds_the_charge(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    processor, charge = connect(timeout=1.0), charge_request()
    stripe_api.fail_next(stall(30))

    with pytest.raises(OutcomeUnknownError) as raised:
        await processor.charge(charge)

    assert raised.value.code == "timeout"
    found = await processor.lookup(charge)
    assert found is not None
    assert found.approved
    assert found.processor_transaction_id in stripe_api.payment_intents


async def test_reply_lost_mid_answer_is_outcome_unknown(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    processor, charge = connect(), charge_request()
    stripe_api.fail_next(drop())

    with pytest.raises(OutcomeUnknownError) as raised:
        await processor.charge(charge)

    assert raised.value.code == "connection_lost"
    found = await processor.lookup(charge)
    assert found is not None
    assert found.approved


async def test_sdk_retry_after_a_lost_reply_gets_stripes_stored_answer(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    stripe_api.fail_next(drop())

    outcome = await connect(retries=1).charge(charge_request())

    assert outcome.approved
    assert len(stripe_api.requests_to("POST", "/v1/payment_intents")) == 2
    assert list(stripe_api.payment_intents) == [outcome.processor_transaction_id]


async def test_throttled_retry_after_a_lost_reply_still_counts_as_maybe_charged(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    """The SDK reports only the 429; calling that "unavailable" would send the customer to
    the next processor while Stripe holds the first attempt's charge."""
    processor, charge = connect(retries=1), charge_request()
    stripe_api.fail_next(drop(), server_error(429))

    with pytest.raises(OutcomeUnknownError) as raised:
        await processor.charge(charge)

    assert raised.value.code == "connection_lost"
    found = await processor.lookup(charge)
    assert found is not None
    assert found.approved


async def test_rejected_api_key_is_unavailable_and_never_logged(
    stripe_api: FakeStripe, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_key = "sk_test_not_the_right_key_4242"
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ProcessorUnavailableError) as raised:
        await connect(api_key=wrong_key).charge(charge_request())

    assert raised.value.code == "authentication_failed"
    assert any(r.levelno == logging.ERROR and "API key" in r.getMessage() for r in caplog.records)
    assert wrong_key not in caplog.text
    assert wrong_key[-4:] not in str(raised.value)


async def test_lookup_of_an_attempt_stripe_never_received_is_none(connect: Connect) -> None:
    assert await connect().lookup(charge_request()) is None


async def test_lookup_finds_only_its_own_attempt(stripe_api: FakeStripe, connect: Connect) -> None:
    processor, first, second = connect(), charge_request(), charge_request()
    await processor.charge(first)

    made = await processor.charge(second)

    assert await processor.lookup(second) == made
    [search] = stripe_api.requests_to("GET", "/v1/payment_intents/search")
    assert second.idempotency_key in search.form["query"]


async def test_repeated_charge_with_the_same_key_creates_one_payment_intent(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    processor, charge = connect(), charge_request()

    first = await processor.charge(charge)
    again = await processor.charge(charge)

    assert again == first
    assert list(stripe_api.payment_intents) == [first.processor_transaction_id]


async def test_same_key_for_a_different_amount_is_an_unknown_outcome(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    processor, charge = connect(), charge_request()
    await processor.charge(charge)

    with pytest.raises(OutcomeUnknownError) as raised:
        await processor.charge(
            charge_request(attempt_key=charge.attempt_key, amount=Money.of("10.00", "USD"))
        )

    assert raised.value.code == "idempotency_conflict"
    assert len(stripe_api.payment_intents) == 1


async def test_partial_refund_sends_minor_units_keyed_by_the_refund_id(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    processor, charge = connect(), charge_request()
    charged = await processor.charge(charge)
    assert charged.processor_transaction_id is not None
    refund = RefundOrder(
        refund_id=f"refund_{uuid.uuid4()}",
        payment_id=charge.payment_id,
        processor_transaction_id=charged.processor_transaction_id,
        amount=Money.of("50.00", "USD"),
        reason="requested_by_customer",
    )

    outcome = await processor.refund(refund)

    assert outcome.succeeded
    assert outcome.processor_refund_id in stripe_api.refunds
    [sent] = stripe_api.requests_to("POST", "/v1/refunds")
    assert sent.form["amount"] == "5000"
    assert sent.form["payment_intent"] == charged.processor_transaction_id
    assert sent.idempotency_key == refund.refund_id
    assert sent.metadata()["refund_id"] == refund.refund_id


async def test_refund_of_more_than_was_taken_is_refused(
    stripe_api: FakeStripe, connect: Connect
) -> None:
    processor, charge = connect(), charge_request()
    charged = await processor.charge(charge)
    assert charged.processor_transaction_id is not None

    outcome = await processor.refund(
        RefundOrder(
            refund_id=f"refund_{uuid.uuid4()}",
            payment_id=charge.payment_id,
            processor_transaction_id=charged.processor_transaction_id,
            amount=Money.of("150.00", "USD"),
        )
    )

    assert (outcome.succeeded, outcome.failure_reason) == (False, "amount_too_large")
    assert stripe_api.refunds == {}


def test_webhook_signed_with_our_secret_is_accepted() -> None:
    payload = stripe_event("pi_abc")

    event = verify_stripe_webhook(
        payload, sign_webhook(payload, FAKE_WEBHOOK_SECRET), FAKE_WEBHOOK_SECRET
    )

    assert event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["id"] == "pi_abc"


def test_webhook_with_a_tampered_body_is_rejected() -> None:
    signature = sign_webhook(stripe_event("pi_abc"), FAKE_WEBHOOK_SECRET)

    with pytest.raises(WebhookVerificationError):
        verify_stripe_webhook(stripe_event("pi_other"), signature, FAKE_WEBHOOK_SECRET)


def test_webhook_signed_with_another_secret_is_rejected() -> None:
    payload = stripe_event()

    with pytest.raises(WebhookVerificationError):
        verify_stripe_webhook(payload, sign_webhook(payload, "whsec_other"), FAKE_WEBHOOK_SECRET)


def test_webhook_signed_longer_ago_than_the_tolerance_is_rejected() -> None:
    payload = stripe_event()
    stale = sign_webhook(payload, FAKE_WEBHOOK_SECRET, timestamp=int(time.time()) - 301)

    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_stripe_webhook(payload, stale, FAKE_WEBHOOK_SECRET, tolerance_seconds=300)


def test_webhook_without_a_signature_is_rejected() -> None:
    with pytest.raises(WebhookVerificationError):
        verify_stripe_webhook(stripe_event(), "", FAKE_WEBHOOK_SECRET)
