"""Refunding and reviewing payments over real HTTP, against the real broker and database.

Cards go to a local server playing Stripe's API through the official SDK, so a refund the
processor made is one it recorded: "refunded once" is counted where the money moves.
"""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from services.analytics.app import build as build_analytics
from services.analytics.settings import AnalyticsSettings
from services.payment.settings import PaymentSettings
from shared.events.topics import (
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    PAYMENT_REVIEW_REQUIRED,
)
from tests.support.factories import campaign_id, payment_request, usd
from tests.support.fake_stripe import FAKE_API_KEY, FakeStripe
from tests.support.kafka import Event, EventLog
from tests.support.payment_service import (
    WITHOUT_RISK_HOLDS,
    idempotency_key,
    payment_api,
    payment_settings,
    until_listening,
)
from tests.support.services import REPORTS_AUTH, running, settings_for

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure

COUNTRY_HEADER = "CF-IPCountry"
# The refund service turns risk holds off, as velocity from the one test address would hold
# payments; the review services hold on a threshold that one signal, the IP's country
# differing from the customer's, crosses alone.
COUNTRY_MISMATCH = 0.3  # RiskPolicy.country_mismatch
HOLD_FOR_REVIEW = {"payment_risk_review_threshold": 0.25, "payment_risk_block_threshold": 1.0}
BLOCK = {"payment_risk_review_threshold": 0.1, "payment_risk_block_threshold": 0.25}


def stripe_settings(
    infra: TestInfrastructure, stripe_api: FakeStripe, **risk: Any
) -> PaymentSettings:
    """Cards through the fake Stripe; the client's IP and country believed from localhost,
    as from a proxy of ours, so each request can come from an address of its own. Every
    service of this module shares one database."""
    return payment_settings(
        infra,
        "refunds_and_review",
        payment_idempotency_wait_seconds=0.5,
        stripe_api_key=FAKE_API_KEY,
        stripe_api_base_url=stripe_api.base_url,
        payment_trusted_proxies="127.0.0.1",
        payment_ip_country_header=COUNTRY_HEADER,
        **risk,
    )


@pytest.fixture(scope="module")
async def api(
    infra: TestInfrastructure, stripe_api: FakeStripe
) -> AsyncIterator[httpx.AsyncClient]:
    async with payment_api(stripe_settings(infra, stripe_api, **WITHOUT_RISK_HOLDS)) as http:
        yield http


@pytest.fixture(scope="module")
async def review_api(
    infra: TestInfrastructure, stripe_api: FakeStripe
) -> AsyncIterator[httpx.AsyncClient]:
    async with payment_api(stripe_settings(infra, stripe_api, **HOLD_FOR_REVIEW)) as http:
        yield http


def from_abroad() -> dict[str, str]:
    """A client at an address of its own (no velocity), in France."""
    address = str(ipaddress.IPv6Address(uuid.uuid4().int))
    return idempotency_key() | {"X-Forwarded-For": address, COUNTRY_HEADER: "FR"}


def wallet_payment(cid: str) -> dict[str, Any]:
    """A PayPal payment by a US customer with a token of its own: only the country differs."""
    return payment_request(
        cid,
        payment_method="paypal",
        payment_token=f"paypal-{uuid.uuid4().hex}",
        customer_country="US",
    )


async def announced(
    events: EventLog, topic: str, payment_id: str, *, count: int = 1
) -> list[Event]:
    """The payment's events on ``topic``, each once. Two instances of the service run at once
    here, sharing one database, so both relays may publish an outbox row: delivery is
    at-least-once, and a repeat carries the same event id."""
    seen = 1
    while True:
        found = await events.wait_for(
            topic, lambda e: e["data"].get("payment_id") == payment_id, count=seen
        )
        distinct = list({event["id"]: event for event in found}.values())
        if len(distinct) >= count:
            return distinct
        seen = len(found) + 1


def history(payment: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    return [(h["from"], h["to"], h["actor"]) for h in payment["status_history"]]


def refunded_at_stripe(fake: FakeStripe, payment: dict[str, Any]) -> list[int]:
    """The refunds Stripe made on the payment's PaymentIntent, in minor units."""
    intent = payment["processor_transaction_id"]
    return [r["amount"] for r in fake.refunds.values() if r["payment_intent"] == intent]


async def card_payment(api: httpx.AsyncClient, cid: str | None = None) -> dict[str, Any]:
    """A completed 149.99 USD card payment (fee 4.65, net 145.34)."""
    response = await api.post("/v1/payments", json=payment_request(cid), headers=idempotency_key())
    assert response.status_code == 201, response.text
    payment: dict[str, Any] = response.json()
    return payment


async def refund(
    api: httpx.AsyncClient, payment_id: str, key: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    if isinstance(body.get("amount"), str):
        body["amount"] = usd(body["amount"])
    return await api.post(
        f"/v1/payments/{payment_id}/refunds", json=body, headers=key or idempotency_key()
    )


async def review(
    api: httpx.AsyncClient, payment_id: str, decision: str, reviewer: str = "ana"
) -> httpx.Response:
    body = {"decision": decision, "reviewer": reviewer}
    return await api.post(f"/v1/payments/{payment_id}/review", json=body, headers=idempotency_key())


async def test_full_refund_refunds_the_amount_at_stripe_and_announces_payment_refunded(
    api: httpx.AsyncClient, events: EventLog, stripe_api: FakeStripe
) -> None:
    payment = await card_payment(api)

    response = await refund(api, payment["id"], amount="149.99", reason="requested_by_customer")

    assert response.status_code == 201, response.text
    refunded = response.json()
    assert (refunded["status"], refunded["refunded_amount"]) == ("refunded", usd("149.99"))
    assert history(refunded)[-1] == ("completed", "refunded", "api")
    assert refunded["status_history"][-1]["reason"] == "requested_by_customer"
    [made] = refunded["refunds"]
    assert (made["amount"], made["status"]) == (usd("149.99"), "succeeded")
    assert made["processor_refund_id"].startswith("re_")
    assert refunded_at_stripe(stripe_api, payment) == [14999]
    [event] = await announced(events, PAYMENT_REFUNDED, payment["id"])
    assert event["data"]["refund_id"] == made["id"]
    assert (event["data"]["refund_amount"], event["data"]["refunded_total"]) == (
        usd("149.99"),
        usd("149.99"),
    )
    assert (event["data"]["fee"], event["data"]["net"]) == (usd("4.65"), usd("145.34"))
    assert (await api.get(f"/v1/payments/{payment['id']}")).json()["status"] == "refunded"


async def test_partial_refund_then_the_rest_is_partially_refunded_then_refunded(
    api: httpx.AsyncClient, events: EventLog, stripe_api: FakeStripe
) -> None:
    payment = await card_payment(api)

    partly = await refund(api, payment["id"], amount="50.00")
    rest = await refund(api, payment["id"])  # no amount: everything left

    assert (partly.status_code, rest.status_code) == (201, 201)
    assert (partly.json()["status"], partly.json()["refunded_amount"]) == (
        "partially_refunded",
        usd("50.00"),
    )
    final = rest.json()
    assert (final["status"], final["refunded_amount"]) == ("refunded", usd("149.99"))
    assert [r["amount"] for r in final["refunds"]] == [usd("50.00"), usd("99.99")]
    assert history(final)[-2:] == [
        ("completed", "partially_refunded", "api"),
        ("partially_refunded", "refunded", "api"),
    ]
    assert refunded_at_stripe(stripe_api, payment) == [5000, 9999]
    refunds = await announced(events, PAYMENT_REFUNDED, payment["id"], count=2)
    assert [e["data"]["refunded_total"] for e in refunds] == [usd("50.00"), usd("149.99")]


async def test_refund_of_more_than_remains_is_refused_naming_amount_and_changes_nothing(
    api: httpx.AsyncClient, stripe_api: FakeStripe
) -> None:
    payment = await card_payment(api)
    await refund(api, payment["id"], amount="100.00")
    before = (await api.get(f"/v1/payments/{payment['id']}")).json()

    response = await refund(api, payment["id"], amount="50.00")

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert [e["field"] for e in error["errors"]] == ["amount"]
    assert "49.99" in error["message"]  # what is left
    assert (await api.get(f"/v1/payments/{payment['id']}")).json() == before
    assert refunded_at_stripe(stripe_api, payment) == [10000]


async def test_refund_of_a_failed_payment_is_an_illegal_transition(
    api: httpx.AsyncClient, stripe_api: FakeStripe
) -> None:
    declined = payment_request(payment_token="pm_card_chargeDeclined")
    failed = await api.post("/v1/payments", json=declined, headers=idempotency_key())
    assert failed.status_code == 402, failed.text
    requests_before = len(stripe_api.requests_to("POST", "/v1/refunds"))

    response = await refund(api, failed.json()["id"], amount="10.00")

    assert response.status_code == 409, response.text
    assert response.json()["error"]["type"] == "illegal_transition"
    assert "failed" in response.json()["error"]["message"]
    stored = (await api.get(f"/v1/payments/{failed.json()['id']}")).json()
    assert (stored["status"], stored["refunds"]) == ("failed", [])
    assert len(stripe_api.requests_to("POST", "/v1/refunds")) == requests_before


async def test_refund_retried_with_the_same_key_is_replayed_and_refunded_once(
    api: httpx.AsyncClient, stripe_api: FakeStripe
) -> None:
    payment = await card_payment(api)
    key = idempotency_key()

    first = await refund(api, payment["id"], key, amount="40.00")
    retry = await refund(api, payment["id"], key, amount="40.00")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert retry.json() == first.json()
    stored = (await api.get(f"/v1/payments/{payment['id']}")).json()
    assert [r["amount"] for r in stored["refunds"]] == [usd("40.00")]
    assert stored["refunded_amount"] == usd("40.00")
    assert refunded_at_stripe(stripe_api, payment) == [4000]


async def test_same_refund_key_with_another_amount_is_a_409_and_refunds_nothing_more(
    api: httpx.AsyncClient, stripe_api: FakeStripe
) -> None:
    payment = await card_payment(api)
    key = idempotency_key()
    await refund(api, payment["id"], key, amount="40.00")

    conflict = await refund(api, payment["id"], key, amount="60.00")

    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["error"]["type"] == "idempotency_key_reused"
    assert key["Idempotency-Key"] not in conflict.text
    stored = (await api.get(f"/v1/payments/{payment['id']}")).json()
    assert (stored["refunded_amount"], len(stored["refunds"])) == (usd("40.00"), 1)
    assert refunded_at_stripe(stripe_api, payment) == [4000]


async def test_two_concurrent_refunds_of_sixty_percent_never_refund_more_than_was_paid(
    api: httpx.AsyncClient, stripe_api: FakeStripe
) -> None:
    payment = await card_payment(api)

    answers = await asyncio.gather(
        refund(api, payment["id"], amount="89.99"), refund(api, payment["id"], amount="89.99")
    )

    assert sorted(a.status_code == 201 for a in answers) == [False, True], [a.text for a in answers]
    # The loser found the first refund reserved: too much is asked of what is left.
    [loser] = [a for a in answers if a.status_code != 201]
    assert (loser.status_code, loser.json()["error"]["type"]) == (422, "invalid_request")
    stored = (await api.get(f"/v1/payments/{payment['id']}")).json()
    assert stored["status"] == "partially_refunded"
    assert [(r["amount"], r["status"]) for r in stored["refunds"]] == [(usd("89.99"), "succeeded")]
    assert stored["refunded_amount"] == usd("89.99")
    assert refunded_at_stripe(stripe_api, payment) == [8999]


async def test_payment_held_by_risk_answers_202_review_and_announces_it(
    review_api: httpx.AsyncClient, events: EventLog, stripe_api: FakeStripe
) -> None:
    body = wallet_payment(campaign_id())

    response = await review_api.post("/v1/payments", json=body, headers=from_abroad())

    assert response.status_code == 202, response.text
    held = response.json()
    assert (held["status"], held["risk"]["level"]) == ("review", "review")
    assert held["risk"]["score"] == COUNTRY_MISMATCH
    assert [r["signal"] for r in held["risk"]["reasons"] if r["contribution"]] == [
        "country_mismatch"
    ]
    assert history(held) == [(None, "pending", "api"), ("pending", "review", "risk")]
    assert held["attempts"] == []  # no processor was asked
    [event] = await announced(events, PAYMENT_REVIEW_REQUIRED, held["id"])
    assert (event["data"]["risk_score"], event["data"]["risk_signals"]) == (
        COUNTRY_MISMATCH,
        ["country_mismatch"],
    )


async def test_approved_review_charges_the_payment_and_records_the_reviewer(
    review_api: httpx.AsyncClient, events: EventLog
) -> None:
    held = await review_api.post(
        "/v1/payments", json=wallet_payment(campaign_id()), headers=from_abroad()
    )
    assert held.status_code == 202, held.text

    approved = await review(review_api, held.json()["id"], "approve")

    assert approved.status_code == 201, approved.text
    payment = approved.json()
    assert (payment["status"], payment["processor"]) == ("completed", "paypal")
    assert [a["outcome"] for a in payment["attempts"]] == ["approved"]
    assert history(payment)[1:] == [
        ("pending", "review", "risk"),
        ("review", "processing", "reviewer:ana"),
        ("processing", "completed", "processor"),
    ]
    [completed] = await announced(events, PAYMENT_COMPLETED, payment["id"])
    assert completed["data"]["fee"] == payment["fee"]


async def test_declined_review_fails_the_payment_without_charging_it(
    review_api: httpx.AsyncClient, events: EventLog
) -> None:
    held = await review_api.post(
        "/v1/payments", json=wallet_payment(campaign_id()), headers=from_abroad()
    )

    declined = await review(review_api, held.json()["id"], "decline", reviewer="ben")

    assert declined.status_code == 402, declined.text
    payment = declined.json()
    assert (payment["status"], payment["failure_reason"]) == ("failed", "review_declined")
    assert history(payment)[-1] == ("review", "failed", "reviewer:ben")
    assert payment["attempts"] == []
    [failed] = await announced(events, PAYMENT_FAILED, payment["id"])
    assert failed["data"]["failure_reason"] == "review_declined"


async def test_reviewing_a_payment_not_in_review_is_a_409(
    review_api: httpx.AsyncClient,
) -> None:
    held = await review_api.post(
        "/v1/payments", json=wallet_payment(campaign_id()), headers=from_abroad()
    )
    await review(review_api, held.json()["id"], "approve")

    again = await review(review_api, held.json()["id"], "decline")

    assert again.status_code == 409, again.text
    assert again.json()["error"]["type"] == "illegal_transition"
    stored = (await review_api.get(f"/v1/payments/{held.json()['id']}")).json()
    assert stored["status"] == "completed"


async def test_payment_blocked_by_risk_fails_as_fraud_without_asking_the_processor(
    infra: TestInfrastructure, events: EventLog, stripe_api: FakeStripe
) -> None:
    body = payment_request(campaign_id(), customer_country="US")
    async with payment_api(stripe_settings(infra, stripe_api, **BLOCK)) as http:
        response = await http.post("/v1/payments", json=body, headers=from_abroad())

    assert response.status_code == 402, response.text
    payment = response.json()
    assert (payment["status"], payment["failure_reason"]) == ("failed", "fraud_suspected")
    assert payment["risk"]["level"] == "block"
    assert history(payment)[-1] == ("pending", "failed", "risk")
    assert payment["attempts"] == []
    charged = [
        r.metadata().get("payment_id")
        for r in stripe_api.requests_to("POST", "/v1/payment_intents")
    ]
    assert payment["id"] not in charged
    [failed] = await announced(events, PAYMENT_FAILED, payment["id"])
    assert failed["data"]["failure_reason"] == "fraud_suspected"


async def test_refund_lowers_the_campaign_s_net_revenue_in_analytics(
    api: httpx.AsyncClient, infra: TestInfrastructure
) -> None:
    cid = campaign_id()
    analytics = settings_for(AnalyticsSettings, infra)
    base_url = f"http://127.0.0.1:{analytics.analytics_api_port}"
    report_url = f"/v1/campaigns/{cid}/report"
    async with (
        running(build_analytics, analytics),
        httpx.AsyncClient(base_url=base_url, headers=REPORTS_AUTH) as http,
    ):
        await until_listening(http)
        payment = await card_payment(api, cid)
        paid = await report_when(http, report_url, lambda t: t["payments_completed"] == 1)
        refunded = await refund(api, payment["id"], amount="50.00")
        assert refunded.status_code == 201, refunded.text
        after = await report_when(http, report_url, lambda t: t["payments_refunded"] == 1)

    usd = "USD"
    assert paid["net"] == {"amount": "145.34", "currency": usd}
    # 50.00 of 149.99 takes back 50.00 of gross and 1.55 of the 4.65 fee: 48.45 of net.
    assert (after["gross"], after["fees"], after["net"], after["refunded"]) == (
        {"amount": "99.99", "currency": usd},
        {"amount": "3.10", "currency": usd},
        {"amount": "96.89", "currency": usd},
        {"amount": "50.00", "currency": usd},
    )


async def report_when(http: httpx.AsyncClient, url: str, settled: Any) -> dict[str, Any]:
    """The report's totals once ``settled`` holds for them."""

    async def poll() -> dict[str, Any]:
        while True:
            response = await http.get(url)
            if response.status_code == 200 and settled(response.json()["totals"]):
                totals: dict[str, Any] = response.json()["totals"]
                return totals
            await asyncio.sleep(0.2)

    try:
        return await asyncio.wait_for(poll(), 60)
    except TimeoutError:
        raise AssertionError(f"{url} never settled; last: {(await http.get(url)).text}") from None
