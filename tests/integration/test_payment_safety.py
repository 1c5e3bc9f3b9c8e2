"""What the payment API promises to keep safe, against the real broker and database: one
charge per idempotency key under concurrency, no card data kept anywhere, no plaintext IP
address or user agent at rest, and the amount rules."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from services.payment.settings import PaymentSettings
from shared.events.topics import PAYMENT_COMPLETED
from tests.support.factories import campaign_id, payment_request
from tests.support.fake_stripe import FAKE_API_KEY, FakeStripe
from tests.support.kafka import EventLog, for_campaign
from tests.support.payment_service import (
    WITHOUT_RISK_HOLDS,
    containing,
    digits_pattern,
    idempotency_key,
    logged_text,
    payment_api,
    payment_settings,
    published_records,
    stored_documents,
)

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure

MAXIMUM = Decimal("5000.00")
PROXY_FORWARDED_IP = "203.0.113.77"
# Stripe's test Visa debit: Luhn-valid, and a run of digits nothing else here contains.
PAN = "4000056655665556"
PAN_ANYWHERE = digits_pattern(PAN)


@pytest.fixture(scope="module")
def settings(infra: TestInfrastructure, stripe_api: FakeStripe) -> PaymentSettings:
    """Cards go to the fake Stripe, whose requests are counted; the test client is the
    trusted proxy; repeats wait long enough for any first answer."""
    return payment_settings(
        infra,
        "safety",
        stripe_api_key=FAKE_API_KEY,
        stripe_api_base_url=stripe_api.base_url,
        payment_idempotency_wait_seconds=60,
        payment_trusted_proxies="127.0.0.1",
        payment_ip_country_header="CF-IPCountry",
        payment_maximum_amounts={"USD": MAXIMUM, "JPY": Decimal(5000)},
        **WITHOUT_RISK_HOLDS,
    )


@pytest.fixture(scope="module")
async def api(settings: PaymentSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with payment_api(settings) as client:
        yield client


async def payments_of(settings: PaymentSettings, cid: str) -> list[str]:
    stored = await stored_documents(settings)
    return [d for d in stored.get("payments", []) if f'"campaign_id": "{cid}"' in d]


async def test_fifty_concurrent_posts_with_one_key_make_one_payment_and_one_processor_call(
    api: httpx.AsyncClient, settings: PaymentSettings, stripe_api: FakeStripe
) -> None:
    cid = campaign_id()
    key = idempotency_key()
    body = payment_request(cid)

    answers = await asyncio.gather(
        *(api.post("/v1/payments", json=body, headers=key) for _ in range(50))
    )

    assert [a.status_code for a in answers] == [201] * 50, {a.text for a in answers}
    first = answers[0].json()
    assert all(a.json() == first for a in answers)
    assert [a.headers.get("idempotent-replayed") for a in answers].count(None) == 1
    assert len(await payments_of(settings, cid)) == 1
    calls = [
        r
        for r in stripe_api.requests_to("POST", "/v1/payment_intents")
        if r.metadata().get("campaign_id") == cid
    ]
    # The SDK may resend a request it lost, always with the same key; Stripe creates once.
    assert calls
    assert {c.idempotency_key for c in calls} == {f"{first['id']}:stripe"}
    intents = [
        i for i in stripe_api.payment_intents.values() if i["metadata"]["campaign_id"] == cid
    ]
    assert [i["id"] for i in intents] == [first["processor_transaction_id"]]


def _with(**changes: Any) -> dict[str, Any]:
    return payment_request() | changes


def _attributed(**changes: Any) -> dict[str, Any]:
    attribution = {"segment_id": "high_value", "channel": "email", "variant_id": "v-a"}
    return payment_request() | {"attribution": attribution | changes}


CARD_DATA_PLACEMENTS = [
    pytest.param(_with(card_number=PAN), "card_number", id="card_number-field"),
    pytest.param(_with(note=f"card {PAN} thanks"), "note", id="extra-field-in-text"),
    pytest.param(_with(card=int(PAN)), "card", id="extra-field-as-json-number"),
    pytest.param(_with(customer_id=PAN), "customer_id", id="customer_id"),
    pytest.param(_with(payment_token="4000-0566-5566-5556"), "payment_token", id="dashed-token"),
    pytest.param(
        _attributed(variant_id="4000 0566 5566 5556"),
        "attribution.variant_id",
        id="spaced-in-attribution",
    ),
    pytest.param(
        _attributed(card={"number": PAN}), "attribution.card.number", id="nested-card-object"
    ),
    pytest.param(_with(cvv="737"), "cvv", id="cvv-field"),
]


@pytest.mark.parametrize(("body", "field"), CARD_DATA_PLACEMENTS)
async def test_card_data_in_any_field_is_refused_by_path_and_kept_nowhere(
    api: httpx.AsyncClient,
    settings: PaymentSettings,
    infra: TestInfrastructure,
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
    body: dict[str, Any],
    field: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="uvicorn")
    cid = body["campaign_id"]

    refused = await api.post("/v1/payments", json=body, headers=idempotency_key())

    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["type"] == "card_data_refused"
    assert field in [e["field"] for e in error["errors"]]
    assert not PAN_ANYWHERE.search(refused.text)
    assert "737" not in refused.text
    assert await payments_of(settings, cid) == []

    # A payment after the refused one, in the same partition: once its event is on the
    # broker, anything the refused request had published would be there before it.
    sentinel = await api.post("/v1/payments", json=payment_request(cid), headers=idempotency_key())
    assert sentinel.status_code == 201, sentinel.text
    await events.wait_for(PAYMENT_COMPLETED, for_campaign(cid))
    stored = [d for documents in (await stored_documents(settings)).values() for d in documents]
    published = await published_records(infra.kafka)
    logged = logged_text(caplog)

    sentinel_id = re.compile(re.escape(sentinel.json()["id"]))
    assert containing(stored, sentinel_id), "the database reader sees this test's payment"
    assert containing(published, sentinel_id), "the broker reader sees this test's events"
    assert sentinel_id.search(logged), "the logs of the service are captured"
    for kept_in, texts in (("database", stored), ("broker", published), ("logs", [logged])):
        assert containing(texts, PAN_ANYWHERE) == [], f"card number in the {kept_in}"
        assert containing(texts, re.compile(r"\bcvv\b")) == [], f"cvv in the {kept_in}"


async def test_ip_address_and_user_agent_are_never_stored_or_sent_in_plaintext(
    api: httpx.AsyncClient,
    settings: PaymentSettings,
    infra: TestInfrastructure,
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    cid = campaign_id()
    user_agent = f"SafetyProbe/1.0 (+ua-{uuid.uuid4().hex})"
    # The left-most hop is whatever the client wrote; the proxy appended the real one.
    forwarded = {"X-Forwarded-For": f"198.51.100.9, {PROXY_FORWARDED_IP}"}
    headers = idempotency_key() | forwarded | {"User-Agent": user_agent}

    body = payment_request(cid)
    created = await api.post("/v1/payments", json=body, headers=headers)
    replayed = await api.post("/v1/payments", json=body, headers=headers)
    fetched = await api.get(f"/v1/payments/{created.json()['id']}")

    assert (created.status_code, replayed.status_code) == (201, 201), replayed.text
    for answer in (created.json(), replayed.json()):
        assert (answer["ip_address"], answer["user_agent"]) == (None, None)
    shown = fetched.json()
    assert (shown["ip_address"], shown["user_agent"]) == (PROXY_FORWARDED_IP, user_agent)

    await events.wait_for(PAYMENT_COMPLETED, for_campaign(cid))
    stored = await stored_documents(settings)
    everything = [d for documents in stored.values() for d in documents]
    published = await published_records(infra.kafka)
    payment_id = re.compile(re.escape(created.json()["id"]))
    assert containing(stored["payments"], payment_id)
    assert containing(stored["idempotency_keys"], payment_id)
    assert containing(published, payment_id)
    for value in (PROXY_FORWARDED_IP, user_agent):
        plaintext = re.compile(re.escape(value))
        assert containing(everything, plaintext) == [], f"{value} stored in plaintext"
        assert containing(published, plaintext) == [], f"{value} published"
        assert not plaintext.search(logged_text(caplog)), f"{value} logged"


async def test_country_set_by_the_trusted_proxy_is_compared_with_the_customers(
    api: httpx.AsyncClient,
) -> None:
    headers = idempotency_key() | {
        "X-Forwarded-For": PROXY_FORWARDED_IP,
        "CF-IPCountry": "DE",
    }
    body = payment_request(customer_country="US")

    created = await api.post("/v1/payments", json=body, headers=headers)

    assert created.status_code == 201, created.text
    reasons = [r["signal"] for r in created.json()["risk"]["reasons"]]
    assert "country_mismatch" in reasons


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    infra: TestInfrastructure,
) -> None:
    untrusting = payment_settings(infra, "untrusting", **WITHOUT_RISK_HOLDS)
    headers = idempotency_key() | {"X-Forwarded-For": PROXY_FORWARDED_IP}

    async with payment_api(untrusting) as api:
        created = await api.post("/v1/payments", json=payment_request(), headers=headers)
        fetched = await api.get(f"/v1/payments/{created.json()['id']}")

    assert created.status_code == 201, created.text
    assert fetched.json()["ip_address"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("0.50", "USD"),
        ("5000.00", "USD"),
        ("149.990", "USD"),
        ("0.30", "GBP"),
        ("50", "JPY"),
        ("5000", "JPY"),
    ],
)
async def test_amount_within_the_rules_of_its_currency_is_charged(
    api: httpx.AsyncClient, amount: str, currency: str
) -> None:
    body = payment_request(amount=amount, currency=currency)

    response = await api.post("/v1/payments", json=body, headers=idempotency_key())

    assert response.status_code == 201, response.text
    assert Decimal(response.json()["amount"]["amount"]) == Decimal(amount)


def _without(field: str) -> dict[str, Any]:
    body = payment_request()
    del body[field]
    return body


def _amount(amount: Any, currency: str = "USD") -> dict[str, Any]:
    return payment_request(amount=amount, currency=currency)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(_amount("0"), "amount", id="zero"),
        pytest.param(_amount("-1.00"), "amount", id="negative"),
        pytest.param(_amount("0.49"), "amount", id="under-the-processor-minimum"),
        pytest.param(_amount("5000.01"), "amount", id="over-the-configured-maximum"),
        pytest.param(_amount("10.001"), "amount", id="three-decimals-in-USD"),
        pytest.param(_amount("100.5", "JPY"), "amount", id="decimals-in-JPY"),
        pytest.param(_amount("49", "JPY"), "amount", id="under-the-JPY-minimum"),
        pytest.param(_amount("5001", "JPY"), "amount", id="over-the-JPY-maximum"),
        pytest.param(_amount("5001", "JPY"), "amount", id="over-the-maximum-in-JPY"),
        pytest.param(_amount(149.99), "amount", id="JSON-number"),
        pytest.param(_amount("abc"), "amount", id="not-a-number"),
        pytest.param(_amount(""), "amount", id="empty"),
        pytest.param(_amount("NaN"), "amount", id="NaN"),
        pytest.param(_amount("Infinity"), "amount", id="infinity"),
        pytest.param(_amount("1e30"), "amount", id="beyond-decimal-precision"),
        pytest.param(_amount({"value": "1.00"}), "amount", id="object"),
        pytest.param(_amount("10.00", "XYZ"), "amount.currency", id="unknown-currency"),
        pytest.param(_amount("10.00", "usd"), "amount.currency", id="lower-case-currency"),
        pytest.param(_with(payment_method="cash"), "payment_method", id="unknown-method"),
        pytest.param(_with(payment_token=""), "payment_token", id="empty-token"),
        pytest.param(_with(customer_id=""), "customer_id", id="empty-customer"),
        pytest.param(_with(campaign_id="has spaces"), "campaign_id", id="malformed-campaign"),
        pytest.param(_with(customer_country="usa"), "customer_country", id="malformed-country"),
        pytest.param(_attributed(channel="fax"), "attribution.channel", id="unknown-channel"),
        *(
            pytest.param(_without(field), field, id=f"missing-{field}")
            for field in (
                "customer_id",
                "campaign_id",
                "amount",
                "payment_method",
                "payment_token",
            )
        ),
    ],
)
async def test_amount_or_field_outside_the_rules_is_refused_naming_the_field(
    api: httpx.AsyncClient, settings: PaymentSettings, body: dict[str, Any], field: str
) -> None:
    response = await api.post("/v1/payments", json=body, headers=idempotency_key())

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    named = [e["field"] for e in error["errors"]]
    assert any(name == field or name.startswith(f"{field}.") for name in named), error
    if "campaign_id" in body:
        assert await payments_of(settings, body["campaign_id"]) == []
