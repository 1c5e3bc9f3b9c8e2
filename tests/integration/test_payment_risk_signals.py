"""The risk score's inputs gathered from stored payments on a real MongoDB wire server."""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.domain.risk import AmountHistory, RiskInputs, WindowCounts, assess
from services.payment.domain.risk import fingerprint as keyed_fingerprint
from services.payment.domain.risk_policy import Lookback, RiskPolicy
from services.payment.storage.risk_signals import (
    PAYMENTS,
    PaymentFacts,
    RiskSignals,
    risk_subdocument,
)
from shared.events.payments import PaymentRecord, RiskLevel
from shared.money import Money
from shared.storage.mongo import Document, connect, service_database
from shared.storage.unit_of_work import Transaction, UnitOfWork
from tests.support.factories import campaign_id, payment_record

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LOOKBACK = Lookback()
SECRET = b"risk-fingerprint-test-key"


@dataclass(frozen=True)
class Store:
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    signals: RiskSignals


@pytest.fixture(scope="module")
async def store(infra) -> AsyncIterator[Store]:
    client = connect(infra.mongodb, app_name="test-payment-risk")
    db = service_database(client, "payment_risk_test", infra.db_prefix)
    signals = RiskSignals(db)
    await signals.ensure_indexes()
    yield Store(client, db, signals)
    await client.close()


def fingerprint(value: str) -> str:
    return keyed_fingerprint(SECRET, value)


def facts(**overrides: Any) -> PaymentFacts:
    """A 149.99 USD payment by a fresh customer, token and IP, not yet stored."""
    fresh: dict[str, Any] = {
        "payment_id": f"pay_{uuid.uuid4()}",
        "customer_id": f"customer-{uuid.uuid4().hex[:12]}",
        "campaign_id": campaign_id(),
        "amount": Money.of("149.99", "USD"),
        "token_fingerprint": fingerprint(f"pm_{uuid.uuid4().hex}"),
        "ip_fingerprint": fingerprint(str(ipaddress.IPv6Address(uuid.uuid4().int))),
    }
    return PaymentFacts(**(fresh | overrides))


async def stored(
    store: Store,
    of: PaymentFacts,
    ago: timedelta,
    *,
    with_risk: bool = True,
    **overrides: Any,
) -> None:
    """A payment stored as the repository stores it, with the risk fields unless it predates
    them; created ``ago`` before NOW, by ``of``'s customer, token and IP unless overridden."""
    record = PaymentRecord.model_validate(
        payment_record(
            of.campaign_id,
            customer_id=of.customer_id,
            amount=str(of.amount.amount),
            currency=of.amount.currency,
            created_at=(NOW - ago).isoformat(),
        )
        | overrides
    )
    document: Document = {"_id": record.id, **record.model_dump(mode="python")}
    if with_risk:
        document["risk"] = {
            "ip_fingerprint": of.ip_fingerprint,
            "token_fingerprint": of.token_fingerprint,
        }
    await store.db[PAYMENTS].insert_one(document)


async def gathered(store: Store, of: PaymentFacts, lookback: Lookback = LOOKBACK) -> RiskInputs:
    return await store.signals.gather(of, lookback, now=NOW, session=None)


async def test_velocity_counts_each_window_by_customer_ip_and_token_and_this_payment(store):
    paying = facts()
    by_another_customer = replace(paying, customer_id=f"customer-{uuid.uuid4().hex[:12]}")
    with_another_token = replace(paying, token_fingerprint=fingerprint("pm_other"))
    for ago in (timedelta(minutes=2), timedelta(minutes=9, seconds=59), timedelta(minutes=10)):
        await stored(store, paying, ago)
    await stored(store, by_another_customer, timedelta(minutes=1))
    await stored(store, with_another_token, timedelta(hours=3))
    await stored(store, paying, timedelta(minutes=5), with_risk=False)  # before fingerprints
    for too_old in (timedelta(hours=24), timedelta(hours=30)):
        await stored(store, paying, too_old)

    inputs = await gathered(store, paying)

    # 10 and 24 hours exactly are outside their windows; this payment adds one to each.
    assert inputs.customer == WindowCounts(short=3 + 1, long=5 + 1)
    assert inputs.token == WindowCounts(short=3 + 1, long=4 + 1)
    assert inputs.ip == WindowCounts(short=3 + 1, long=5 + 1)


async def test_declines_are_counted_for_the_customer_and_for_the_token_over_24_hours(store):
    paying = facts()
    someone_else = replace(paying, customer_id=f"customer-{uuid.uuid4().hex[:12]}")
    declined = {"status": "failed", "failure_reason": "card_declined"}
    for ago in (timedelta(minutes=1), timedelta(hours=20)):
        await stored(store, paying, ago, **declined)
    await stored(store, paying, timedelta(hours=30), **declined)
    await stored(store, someone_else, timedelta(hours=1), **declined)
    await stored(store, paying, timedelta(hours=2))

    inputs = await gathered(store, paying)

    assert (inputs.customer_declines, inputs.token_declines) == (2, 3)


async def test_this_payment_counts_once_whether_or_not_it_is_stored_yet(store):
    paying = facts()
    await stored(store, paying, timedelta(minutes=3))
    before = await gathered(store, paying)

    await stored(store, paying, timedelta(0), id=paying.payment_id, status="pending")
    after = await gathered(store, paying)

    assert before == after
    assert after.token == WindowCounts(short=2, long=2)


async def test_history_median_is_over_the_customers_completed_payments_in_the_currency(store):
    paying = facts(amount=Money.of("300.00", "USD"))
    for amount, ago in (("100.00", 30), ("120.00", 20), ("400.00", 10)):
        await stored(store, replace(paying, amount=Money.of(amount, "USD")), timedelta(days=ago))
    declined = replace(paying, amount=Money.of("5000.00", "USD"))
    await stored(store, declined, timedelta(days=5), status="failed")
    await stored(store, replace(paying, amount=Money.of("999.00", "EUR")), timedelta(days=1))

    inputs = await gathered(store, paying)

    assert inputs.customer_history == AmountHistory(count=3, median=Decimal("120.00"))
    assert inputs.customer_is_new is False


async def test_campaign_basket_is_the_median_of_its_newest_completed_payments(store):
    campaign = campaign_id()
    for days_ago, amount in enumerate(("50.00", "40.00", "30.00", "20.00", "10.00")):
        buyer = facts(campaign_id=campaign, amount=Money.of(amount, "USD"))
        await stored(store, buyer, timedelta(days=days_ago + 1))

    inputs = await gathered(
        store, facts(campaign_id=campaign), replace(LOOKBACK, campaign_sample=4)
    )

    # The oldest (10.00) is outside the sample of four: median of 20, 30, 40, 50.
    assert inputs.campaign_basket == AmountHistory(count=4, median=Decimal("35.00"))


async def test_customer_is_new_until_a_payment_completes_in_any_currency(store):
    declined_only, paid_in_euros = facts(), facts()
    await stored(store, declined_only, timedelta(days=2), status="failed")
    await stored(store, replace(paid_in_euros, amount=Money.of("80.00", "EUR")), timedelta(days=2))

    first, euro_buyer = await gathered(store, declined_only), await gathered(store, paid_in_euros)

    assert (first.customer_is_new, first.customer_history) == (True, AmountHistory(0, None))
    assert (euro_buyer.customer_is_new, euro_buyer.customer_history) == (
        False,
        AmountHistory(0, None),
    )


async def test_a_payment_without_an_ip_address_is_not_counted_by_ip(store):
    paying = facts(ip_fingerprint=None)
    await stored(store, facts(), timedelta(minutes=1), with_risk=False)

    assert (await gathered(store, paying)).ip is None


async def test_gathering_inside_a_transaction_feeds_an_assessment_without_personal_data(store):
    ip, token = "203.0.113.77", "pm_card_visa_0042"
    paying = facts(ip_fingerprint=fingerprint(ip), token_fingerprint=fingerprint(token))
    for minutes in range(1, 6):
        await stored(store, paying, timedelta(minutes=minutes))
    found: list[RiskInputs] = []

    async def work(tx: Transaction) -> None:
        found.append(await store.signals.gather(paying, LOOKBACK, now=NOW, session=tx.session))

    await UnitOfWork(store.client, store.db, source="/tests/payment-risk").run(work)
    assessment = assess(found[0], RiskPolicy())
    document = json.dumps(risk_subdocument(paying, assessment))

    assert found[0].token == WindowCounts(short=6, long=6)
    # Customer, IP and token six times each: 1 - (1 - 0.45)(1 - 0.1)(1 - 0.6).
    assert (assessment.score, assessment.level) == (0.802, RiskLevel.REVIEW)
    assert assessment.reasons == ["token_velocity", "customer_velocity", "ip_velocity"]
    assert paying.token_fingerprint in document  # what later payments are counted by
    for personal in (ip, token, paying.customer_id):
        assert personal not in document


async def test_indexes_serve_the_velocity_and_basket_queries(store):
    indexes = await store.db[PAYMENTS].index_information()
    keys = [list(index["key"]) for index in indexes.values()]

    assert [("customer_id", 1), ("created_at", -1)] in keys
    assert [("risk.ip_fingerprint", 1), ("created_at", -1)] in keys
    assert [("risk.token_fingerprint", 1), ("created_at", -1)] in keys
    assert [("campaign_id", 1), ("status", 1), ("created_at", -1)] in keys
