"""The crypto adapter over HTTP against a local server that plays a hosted-charge API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from services.payment.processors import (
    OutcomeUnknownError,
    ProcessorUnavailableError,
    RefundOrder,
)
from services.payment.processors.crypto import CryptoProcessor, verify_crypto_webhook
from shared.money import Money
from tests.support.factories import WALLET, charge_request
from tests.support.fake_api import refused_url
from tests.support.fake_crypto import API_KEY, FakeCrypto, signed_webhook

LATE_SECONDS = 6.0
WEBHOOK_SECRET = "whsec-fake-shared-secret"


def processor_for(
    api: FakeCrypto, page_size: int = 100, lookback: timedelta = timedelta(hours=24)
) -> CryptoProcessor:
    return CryptoProcessor(
        API_KEY, api.base_url, timeout_seconds=2.0, page_size=page_size, lookback=lookback
    )


@pytest.fixture
async def crypto(crypto_api: FakeCrypto) -> AsyncIterator[CryptoProcessor]:
    crypto_api.reset()
    processor = processor_for(crypto_api)
    yield processor
    await processor.close()


async def test_new_charge_is_pending_for_the_exact_price_tagged_with_the_attempt(
    crypto: CryptoProcessor, crypto_api: FakeCrypto
) -> None:
    charge = charge_request("crypto", amount=Money.of("149.90", "USD"))

    outcome = await crypto.charge(charge)

    [made] = crypto_api.charges_for(charge.idempotency_key)
    assert outcome.pending
    assert outcome.processor_transaction_id == made["code"]
    [created] = crypto_api.calls("create_charge")
    assert created.headers["x-cc-api-key"] == API_KEY
    assert created.headers["x-cc-version"] == "2018-03-22"
    assert created.body["pricing_type"] == "fixed_price"
    assert created.body["local_price"] == {"amount": "149.90", "currency": "USD"}
    assert created.body["metadata"] == {
        "payment_id": charge.payment_id,
        "campaign_id": charge.campaign_id,
        "customer_id": charge.customer_id,
        "attempt_key": charge.attempt_key,
        "payment_reference": WALLET,
    }


async def test_charge_confirmed_on_chain_is_approved_on_lookup(
    crypto: CryptoProcessor, crypto_api: FakeCrypto
) -> None:
    charge = charge_request("crypto")
    code = (await crypto.charge(charge)).processor_transaction_id
    assert code is not None
    crypto_api.confirm(code)

    found = await crypto.lookup(charge)

    assert found is not None
    assert found.approved
    assert found.processor_transaction_id == code
    [shown] = crypto_api.calls("show_charge")
    assert shown.path == f"/charges/{code}"


async def test_payment_seen_on_chain_but_not_final_stays_pending(
    crypto: CryptoProcessor, crypto_api: FakeCrypto
) -> None:
    charge = charge_request("crypto")
    code = (await crypto.charge(charge)).processor_transaction_id
    assert code is not None
    crypto_api.detect_payment(code)

    found = await crypto.lookup(charge)

    assert found is not None
    assert found.pending


@pytest.mark.parametrize(
    ("happen", "reason"),
    [
        (FakeCrypto.expire, "expired"),
        (FakeCrypto.cancel, "canceled"),
        (FakeCrypto.underpay, "underpaid"),
    ],
)
async def test_charge_that_fails_on_chain_is_declined_on_lookup(
    crypto: CryptoProcessor,
    crypto_api: FakeCrypto,
    happen: Callable[[FakeCrypto, str], None],
    reason: str,
) -> None:
    charge = charge_request("crypto")
    code = (await crypto.charge(charge)).processor_transaction_id
    assert code is not None
    happen(crypto_api, code)

    found = await crypto.lookup(charge)

    assert found is not None
    assert not found.approved
    assert not found.pending
    assert found.failure_reason == reason


async def test_wallet_refusing_the_request_is_declined(crypto: CryptoProcessor) -> None:
    outcome = await crypto.charge(charge_request("crypto", payment_token="sandbox_decline"))

    assert outcome.failure_reason == "canceled"


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_api_failing_to_create_the_charge_is_unavailable(
    crypto: CryptoProcessor, crypto_api: FakeCrypto, status: int
) -> None:
    crypto_api.fail_next("create_charge", status)

    with pytest.raises(ProcessorUnavailableError):
        await crypto.charge(charge_request("crypto"))

    assert crypto_api.charges == {}


async def test_unreachable_api_is_unavailable() -> None:
    processor = CryptoProcessor(API_KEY, base_url=refused_url())
    try:
        with pytest.raises(ProcessorUnavailableError) as raised:
            await processor.charge(charge_request("crypto"))
    finally:
        await processor.close()

    assert raised.value.code == "connection_failed"


async def test_refused_api_key_is_unavailable(crypto_api: FakeCrypto) -> None:
    crypto_api.reset()
    processor = CryptoProcessor("not-the-key", base_url=crypto_api.base_url)
    try:
        with pytest.raises(ProcessorUnavailableError) as raised:
            await processor.charge(charge_request("crypto"))
    finally:
        await processor.close()

    assert raised.value.code == "authentication_failed"
    assert crypto_api.charges == {}


async def test_charge_created_too_late_is_unknown_until_lookup_finds_it(
    crypto: CryptoProcessor, crypto_api: FakeCrypto
) -> None:
    charge = charge_request("crypto")
    crypto_api.slow_next("create_charge", LATE_SECONDS)

    with pytest.raises(OutcomeUnknownError) as raised:
        await crypto.charge(charge)
    found = await crypto.lookup(charge)

    assert raised.value.code == "timeout"
    [made] = crypto_api.charges_for(charge.idempotency_key)
    assert found is not None
    assert found.pending
    assert found.processor_transaction_id == made["code"]


async def test_lookup_of_an_attempt_never_created_is_none(crypto: CryptoProcessor) -> None:
    assert await crypto.lookup(charge_request("crypto")) is None


async def test_charging_again_after_a_restart_finds_the_first_charge_across_pages(
    crypto: CryptoProcessor, crypto_api: FakeCrypto
) -> None:
    charge = charge_request("crypto")
    first = await crypto.charge(charge)
    for _ in range(4):
        await crypto.charge(charge_request("crypto"))
    crypto_api.requests.clear()
    restarted = processor_for(crypto_api, page_size=2)
    try:
        again = await restarted.charge(charge)
    finally:
        await restarted.close()

    assert again == first
    assert len(crypto_api.charges_for(charge.idempotency_key)) == 1
    assert len(crypto_api.calls("list_charges")) == 3  # the first charge is the 5th newest


async def test_search_for_an_attempt_stops_at_the_lookback_horizon(
    crypto: CryptoProcessor, crypto_api: FakeCrypto
) -> None:
    for _ in range(3):
        code = (await crypto.charge(charge_request("crypto"))).processor_transaction_id
        assert code is not None
        crypto_api.backdate(code, timedelta(days=2))
    crypto_api.requests.clear()
    searching = processor_for(crypto_api, page_size=1, lookback=timedelta(days=1))
    try:
        assert await searching.lookup(charge_request("crypto")) is None
    finally:
        await searching.close()

    assert len(crypto_api.calls("list_charges")) == 1


async def test_refund_is_refused_as_not_supported_without_calling_the_api(
    crypto: CryptoProcessor, crypto_api: FakeCrypto
) -> None:
    refund = RefundOrder(
        refund_id=f"ref_{uuid.uuid4()}",
        payment_id=f"pay_{uuid.uuid4()}",
        processor_transaction_id="66BEOV2A",
        amount=Money.of("10.00", "USD"),
    )

    outcome = await crypto.refund(refund)

    assert not outcome.succeeded
    assert outcome.failure_reason == "refund_not_supported"
    assert crypto_api.requests == []


def test_webhook_signed_with_the_shared_secret_is_verified() -> None:
    body, signature = signed_webhook({"code": "66BEOV2A"}, "charge:confirmed", WEBHOOK_SECRET)

    assert verify_crypto_webhook(body, signature, WEBHOOK_SECRET)


@pytest.mark.parametrize(
    ("tamper", "secret"),
    [
        (lambda body, sig: (body.replace(b"66BEOV2A", b"99ZZZZZZ"), sig), WEBHOOK_SECRET),
        (lambda body, sig: (body, sig), "another-secret"),
        (lambda body, sig: (body, ""), WEBHOOK_SECRET),
        (lambda body, sig: (body, sig[:-1] + "\u00e9"), WEBHOOK_SECRET),
    ],
    ids=["tampered-body", "other-secret", "no-signature", "not-hex"],
)
def test_webhook_not_signed_with_the_shared_secret_is_rejected(
    tamper: Callable[[bytes, str], tuple[bytes, str]], secret: str
) -> None:
    body, signature = tamper(
        *signed_webhook({"code": "66BEOV2A"}, "charge:confirmed", WEBHOOK_SECRET)
    )

    assert not verify_crypto_webhook(body, signature, secret)
