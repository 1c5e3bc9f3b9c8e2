"""The risk score's inputs on a real MongoDB wire server: velocity counted in the payment's
own transaction on counters read just before it, and the amount history and declines read
from the payments already stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.domain.requests import CreatePayment, RequestContext
from services.payment.domain.risk import AmountHistory, WindowCounts
from services.payment.domain.risk_policy import Lookback, RiskPolicy
from services.payment.risk_scoring import PaymentRiskScorer
from services.payment.storage.payments import PAYMENTS
from services.payment.storage.risk_history import RiskHistory, SignalsAsked
from services.payment.storage.velocity import KEPT, VelocityCounters
from shared.events.payments import RiskLevel
from shared.money import Money
from shared.storage.mongo import Document, connect, service_database
from shared.storage.unit_of_work import Transaction, UnitOfWork, WriteConflictError
from tests.support.factories import campaign_id, payment_request

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LOOKBACK = Lookback()
SECRET = b"risk-fingerprint-test-key"


class Counting(Transaction):
    def __init__(self, db: AsyncDatabase[Document], session: AsyncClientSession, source: str):
        super().__init__(db, session, source)
        self.velocity = VelocityCounters(db, session)


@dataclass(frozen=True)
class Store:
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    history: RiskHistory
    uow: UnitOfWork[Counting]


@pytest.fixture(scope="module")
async def store(infra: Any) -> AsyncIterator[Store]:
    client = connect(infra.mongodb, app_name="test-payment-risk")
    db = service_database(client, "payment_risk_test", infra.db_prefix)
    history = RiskHistory(db)
    await history.ensure_indexes()
    uow = UnitOfWork(client, db, source="/tests/payment-risk", transaction=Counting)
    yield Store(client, db, history, uow)
    await client.close()


def counter() -> str:
    return f"token:{uuid.uuid4().hex}"


async def count(store: Store, key: str, at: datetime) -> Any:
    """The payment counted as the service counts it: the counter read, then bumped."""
    seen = await store.db["velocity_counters"].find_one({"_id": key})
    async with store.uow as tx:
        counted = await tx.velocity.count_payments({key: seen} if seen else {}, [key], at, LOOKBACK)
    return counted[key]


async def test_velocity_counts_each_window_with_the_payment_being_counted(store: Store) -> None:
    key = counter()
    for ago in (
        timedelta(hours=30),
        timedelta(hours=24),
        timedelta(hours=3),
        timedelta(minutes=10),
        timedelta(minutes=9, seconds=59),
        timedelta(minutes=2),
    ):
        await count(store, key, NOW - ago)

    now = await count(store, key, NOW)

    # Windows are half-open, (now - window, now]: 10 minutes and 24 hours exactly are out.
    assert now.payments == WindowCounts(short=3, long=5)


async def test_a_counter_moved_since_it_was_read_makes_the_payment_count_again(
    store: Store,
) -> None:
    key = counter()
    await count(store, key, NOW - timedelta(minutes=1))
    seen = await store.db["velocity_counters"].find_one({"_id": key}) or {}
    await count(store, key, NOW - timedelta(seconds=30))  # another payment, meanwhile

    with pytest.raises(WriteConflictError):
        async with store.uow as tx:
            await tx.velocity.count_payments({key: seen}, [key], NOW, LOOKBACK)

    assert (await count(store, key, NOW)).payments == WindowCounts(short=3, long=3)


async def test_a_counter_created_meanwhile_makes_the_payment_count_again(store: Store) -> None:
    key = counter()
    await count(store, key, NOW - timedelta(minutes=1))  # read as absent by the next one

    with pytest.raises(WriteConflictError):
        async with store.uow as tx:
            await tx.velocity.count_payments({}, [key], NOW, LOOKBACK)


async def test_declines_are_the_failed_payments_of_the_customer_and_token_in_the_long_window(
    store: Store,
) -> None:
    customer, token = f"customer-{uuid.uuid4().hex}", counter()
    for ago in (timedelta(hours=30), timedelta(hours=20), timedelta(minutes=1)):
        await stored(store, customer, "c", usd("1.00"), status="failed", created_at=NOW - ago)
    await stored(store, customer, "c", usd("1.00"), created_at=NOW - timedelta(minutes=2))
    fingerprinted = {"risk": {"token_fingerprint": token}, "status": "failed"}
    await stored(store, "someone-else", "c", usd("1.00"), **fingerprinted)

    asked = SignalsAsked(customer, "c", usd("1.00"), token, [])
    signals = await store.history.signals(asked, LOOKBACK, NOW)

    assert (signals.customer_declines, signals.token_declines) == (2, 1)


async def test_a_counter_keeps_its_latest_timestamps_only(store: Store) -> None:
    key = counter()
    for second in range(KEPT + 20):
        await count(store, key, NOW + timedelta(seconds=second))

    stored = await store.db["velocity_counters"].find_one({"_id": key}) or {}
    assert len(stored["payments"]) == KEPT


async def test_a_count_rolled_back_with_its_transaction_never_happened(store: Store) -> None:
    key = counter()

    async def abandoned() -> None:
        async with store.uow as tx:
            await tx.velocity.count_payments({}, [key], NOW, LOOKBACK)
            raise RuntimeError("the payment's transaction failed")

    with pytest.raises(RuntimeError):
        await abandoned()

    assert (await count(store, key, NOW)).payments == WindowCounts(short=1, long=1)


async def stored(store: Store, customer: str, campaign: str, amount: Money, **fields: Any) -> None:
    document = {
        "_id": f"pay_{uuid.uuid4()}",
        "customer_id": customer,
        "campaign_id": campaign,
        "amount": amount.amount,
        "currency": amount.currency,
        "status": "completed",
        "created_at": NOW,
    }
    await store.db[PAYMENTS].insert_one(document | fields)


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


async def test_history_median_is_over_the_customers_completed_payments_in_the_currency(
    store: Store,
) -> None:
    customer, campaign = f"customer-{uuid.uuid4().hex}", campaign_id()
    for amount, days in (("100.00", 30), ("120.00", 20), ("400.00", 10)):
        await stored(store, customer, campaign, usd(amount), created_at=NOW - timedelta(days=days))
    await stored(store, customer, campaign, usd("5000.00"), status="failed")
    await stored(store, customer, campaign, Money.of("999.00", "EUR"))

    facts = await store.history.amount_facts(customer, campaign, usd("300.00"), LOOKBACK)

    assert facts.customer_history == AmountHistory(count=3, median=Decimal("120.00"))
    assert facts.customer_is_new is False


async def test_campaign_basket_is_the_median_of_its_newest_completed_payments(
    store: Store,
) -> None:
    campaign = campaign_id()
    for days_ago, amount in enumerate(("50.00", "40.00", "30.00", "20.00", "10.00")):
        at = NOW - timedelta(days=days_ago + 1)
        await stored(store, f"customer-{uuid.uuid4().hex}", campaign, usd(amount), created_at=at)

    lookback = replace(LOOKBACK, campaign_sample=4)
    facts = await store.history.amount_facts("someone", campaign, usd("10.00"), lookback)

    # The oldest (10.00) is outside the sample of four: median of 20, 30, 40, 50.
    assert facts.campaign_basket == AmountHistory(count=4, median=Decimal("35.00"))


async def test_customer_is_new_until_a_payment_completes_in_any_currency(store: Store) -> None:
    declined_only, paid_in_euros = f"customer-{uuid.uuid4().hex}", f"customer-{uuid.uuid4().hex}"
    await stored(store, declined_only, campaign_id(), usd("80.00"), status="failed")
    await stored(store, paid_in_euros, campaign_id(), Money.of("80.00", "EUR"))

    first = await store.history.amount_facts(declined_only, "c", usd("1.00"), LOOKBACK)
    euro_buyer = await store.history.amount_facts(paid_in_euros, "c", usd("1.00"), LOOKBACK)

    assert (first.customer_is_new, first.customer_history) == (True, AmountHistory(0, None))
    assert (euro_buyer.customer_is_new, euro_buyer.customer_history) == (
        False,
        AmountHistory(0, None),
    )


async def test_scoring_counts_by_fingerprints_and_keeps_no_personal_data(store: Store) -> None:
    ip, token = "203.0.113.77", f"pm_card_{uuid.uuid4().hex}"
    request = CreatePayment.model_validate(payment_request(payment_token=token))
    context = RequestContext(ip_address=ip, user_agent="Mozilla/5.0")
    scorer = PaymentRiskScorer(store.history, RiskPolicy(), SECRET)

    async def scored(at: datetime) -> tuple[Any, Document]:
        signals = await scorer.signals(request, context, at)
        async with store.uow as tx:
            return await scorer.assess(tx.velocity, request, context, signals, at)

    for minutes in range(5, 0, -1):
        await scored(NOW - timedelta(minutes=minutes))
    assessment, document = await scored(NOW)

    # Customer, IP and token six times each: 1 - (1 - 0.45)(1 - 0.1)(1 - 0.6).
    assert (assessment.score, assessment.level) == (0.802, RiskLevel.REVIEW)
    assert assessment.reasons == ["token_velocity", "customer_velocity", "ip_velocity"]
    written = json.dumps(document)
    assert document["token_fingerprint"].startswith("token:")
    for personal in (ip, token, request.customer_id):
        assert personal not in written
