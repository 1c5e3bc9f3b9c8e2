"""Payments and refunds while the payment service is killed with SIGKILL and restarted.

Customers pay by card (Stripe) and PayPal, played by local servers through the real SDK and
HTTP client; some processor calls time out after the processor acted; refunds are partial,
full and concurrent on one payment; and the payment service, a process of its own, is
killed mid-traffic and started again, twice. Clients behave as real ones do: a request
that got no answer is sent again with the same Idempotency-Key until it gets one.

Afterwards, once reconciliation has run: every payment charged at most once, every refund
made exactly once at its processor and never beyond the capture, analytics' gross and net
equal to what the processors' ledgers say, no key left unanswered, nothing left pending.

``make test`` runs it small; ``make chaos`` runs it at full size (CHAOS_PAYMENTS,
CHAOS_REFUNDS).
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from services.analytics.app import build as build_analytics
from services.analytics.settings import AnalyticsSettings
from shared.devstack.processes import ProcessGroup
from shared.settings import DEV_ONLY_PAYMENT_API_KEY
from tests.support import fake_paypal
from tests.support.chaos_ledger import ProcessorLedger
from tests.support.factories import campaign_id, payment_request, usd
from tests.support.fake_paypal import FakePayPal, fake_paypal_server
from tests.support.fake_stripe import FAKE_API_KEY, FakeStripe, fake_stripe_server, stall
from tests.support.infrastructure import free_port
from tests.support.services import REPORTS_AUTH, running, settings_for

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure

PAYMENTS = int(os.environ.get("CHAOS_PAYMENTS", "30"))
REFUNDS = int(os.environ.get("CHAOS_REFUNDS", "15"))
CONCURRENCY = 8
PROCESSOR_TIMEOUT = 1.5  # a stalled reply outlasts it: the call's outcome is unknown
AUTH = {"Authorization": f"Bearer {DEV_ONLY_PAYMENT_API_KEY}"}
SETTLED_WITHIN = 180.0


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with fake_stripe_server() as server:
        yield server


@pytest.fixture
def paypal_api() -> Iterator[FakePayPal]:
    with fake_paypal_server() as server:
        yield server


class PaymentProcess:
    """The payment service as a process of its own, killed and started again at will."""

    def __init__(self, infra: TestInfrastructure, logs: Path, env: dict[str, str]) -> None:
        self.processes = ProcessGroup(logs)
        self.env = env
        self.kills = 0

    def start(self) -> None:
        self.processes.start_service("payment", self.env)

    def kill_and_restart(self) -> None:
        self.processes.kill("payment")
        self.kills += 1
        self.start()

    def stop(self) -> dict[str, int]:
        return self.processes.stop()


class Client:
    """A storefront that sends a request again, with its key, until it is answered."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.resent = 0

    async def send(self, path: str, body: dict[str, Any], key: str) -> httpx.Response:
        async with asyncio.timeout(SETTLED_WITHIN):
            while True:
                try:
                    response = await self.http.post(
                        path, json=body, headers={"Idempotency-Key": key}
                    )
                except httpx.TransportError:
                    response = None  # the process died under the request, or is starting
                if response is not None and not _try_again(response):
                    return response
                self.resent += 1
                await asyncio.sleep(0.2)


def _try_again(response: httpx.Response) -> bool:
    in_use = response.status_code == 409 and "in_use" in response.text
    return response.status_code >= 500 or in_use


async def test_money_is_neither_lost_nor_doubled_through_kills_timeouts_and_races(
    infra: TestInfrastructure, tmp_path: Path, stripe_api: FakeStripe, paypal_api: FakePayPal
) -> None:
    rng = random.Random(20261201)
    cid = campaign_id("chaos")
    prefix = f"{infra.db_prefix}chaos_{uuid.uuid4().hex[:6]}_"
    port = free_port()
    payment = PaymentProcess(
        infra, tmp_path, payment_env(infra, prefix, port, stripe_api, paypal_api)
    )
    # Its storefront names click ids no launcher made: there is no click to wait for.
    analytics = settings_for(
        AnalyticsSettings, infra, mongodb_db_prefix=prefix, analytics_click_grace_seconds=0
    )
    async with (
        running(build_analytics, analytics),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=30) as http,
    ):
        payment.start()
        try:
            client = Client(http)
            answers = await pay(client, payment, stripe_api, paypal_api, cid, rng)
            completed = [a for a in answers if a["status"] == "completed"]
            await refund(client, payment, stripe_api, completed, rng)
            settled = await until_settled(prefix, infra)
            report = await report_once_it_matches(analytics, cid, stripe_api, paypal_api)
        finally:
            exit_codes = payment.stop()

    assert payment.kills == 2, "the service was killed twice mid-traffic"
    assert client.resent > 0, "some requests went unanswered and were sent again"
    print(chaos_summary(settled, client, ledger := ProcessorLedger.of(stripe_api, paypal_api)))
    ledger.assert_each_payment_charged_at_most_once()
    ledger.assert_matches(settled.payments)
    assert settled.stuck == [], "payments or refunds left undecided"
    assert settled.unanswered_keys == [], "Idempotency-Keys left without a final answer"
    totals = report["totals"]
    assert (totals["gross"], totals["net"]) == (usd(str(ledger.gross)), usd(str(ledger.net)))
    assert exit_codes == {"payment": 0}, "SIGTERM should shut the restarted service down"


def chaos_summary(settled: Settled, client: Client, ledger: ProcessorLedger) -> str:
    statuses = Counter(p["failure_reason"] or p["status"] for p in settled.payments)
    refunds = Counter(r["status"] for p in settled.payments for r in p["refunds"])
    by_reconciliation = sum(
        any(c["actor"] == "reconciliation" for c in p["status_history"]) for p in settled.payments
    )
    return (
        f"\nchaos: {len(settled.payments)} payments {dict(statuses)}; refunds {dict(refunds)}; "
        f"{by_reconciliation} settled by reconciliation; {client.resent} requests sent again; "
        f"ledger gross {ledger.gross}, net {ledger.net}"
    )


def payment_env(
    infra: TestInfrastructure,
    prefix: str,
    port: int,
    stripe_api: FakeStripe,
    paypal_api: FakePayPal,
) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": infra.mongodb,
        "MONGODB_DB_PREFIX": prefix,
        "LOG_FORMAT": "text",
        "HEALTH_HOST": "127.0.0.1",
        "PAYMENT_API_PORT": str(port),
        "STRIPE_API_KEY": FAKE_API_KEY,
        "STRIPE_API_BASE_URL": stripe_api.base_url,
        "PAYPAL_CLIENT_ID": fake_paypal.CLIENT_ID,
        "PAYPAL_CLIENT_SECRET": fake_paypal.CLIENT_SECRET,
        "PAYPAL_API_BASE_URL": paypal_api.base_url,
        "PAYMENT_PROCESSOR_TIMEOUT_SECONDS": str(PROCESSOR_TIMEOUT),
        "PAYMENT_RISK_REVIEW_THRESHOLD": "1",
        "PAYMENT_RISK_BLOCK_THRESHOLD": "1",
        "PAYMENT_IDEMPOTENCY_WAIT_SECONDS": "1",
        "PAYMENT_LEASE_SECONDS": "2",
        "PAYMENT_RECONCILIATION_INTERVAL_SECONDS": "1",
        "PAYMENT_RECONCILIATION_AFTER_SECONDS": "1",
        "OUTBOX_LEASE_SECONDS": "3",
        "OUTBOX_LEASE_RENEW_SECONDS": "1",
    }


async def pay(
    client: Client,
    payment: PaymentProcess,
    stripe_api: FakeStripe,
    paypal_api: FakePayPal,
    cid: str,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """Every payment answered, the service killed once a third of them were."""
    bodies = [a_payment(cid, rng) for _ in range(PAYMENTS)]
    answers: list[dict[str, Any]] = []
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            if rng.random() < 0.1:  # the processor acts, its replies are lost: unknown
                stripe_api.fail_next(*[stall(PROCESSOR_TIMEOUT + 1)] * 3)
                paypal_api.slow_next("capture", PROCESSOR_TIMEOUT + 1)
            answer = await client.send("/v1/payments", body, f"pay-{uuid.uuid4()}")
            answers.append(answer.json())
            if len(answers) == PAYMENTS // 3:
                payment.kill_and_restart()

    await asyncio.gather(*(one(body) for body in bodies))
    return answers


def a_payment(cid: str, rng: random.Random) -> dict[str, Any]:
    amount = str(Decimal(rng.randint(1000, 30_000)) / 100)
    if rng.random() < 0.7:
        token = "pm_card_chargeDeclined" if rng.random() < 0.05 else "pm_card_visa"
        return payment_request(cid, amount=amount, payment_token=token)
    agreement = f"B-{uuid.uuid4().hex[:17].upper()}"
    return payment_request(cid, amount=amount, payment_method="paypal", payment_token=agreement)


async def refund(
    client: Client,
    payment: PaymentProcess,
    stripe_api: FakeStripe,
    completed: list[dict[str, Any]],
    rng: random.Random,
) -> None:
    """Partial, full and concurrent refunds; the service killed half way through."""
    refunds: list[tuple[str, dict[str, Any]]] = []
    while len(refunds) < REFUNDS and completed:
        paid = rng.choice(completed)
        amount = Decimal(paid["amount"]["amount"])
        kind = rng.random()
        if kind < 0.2:
            refunds.append((paid["id"], {}))  # everything left
        else:
            part = (amount * Decimal(rng.randint(10, 60)) / 100).quantize(Decimal("0.01"))
            refunds.append((paid["id"], {"amount": usd(str(max(part, Decimal("0.50"))))}))
    answered = 0

    async def one(payment_id: str, body: dict[str, Any]) -> None:
        nonlocal answered
        if rng.random() < 0.15:
            stripe_api.fail_next(*[stall(PROCESSOR_TIMEOUT + 1)] * 3)
        path = f"/v1/payments/{payment_id}/refunds"
        answer = await client.send(path, body, f"refund-{uuid.uuid4()}")
        assert answer.status_code in (201, 202, 402, 409, 422), answer.text
        answered += 1
        if answered == len(refunds) // 2:
            payment.kill_and_restart()

    # All at once: refunds of one payment race one another.
    await asyncio.gather(*(one(payment_id, body) for payment_id, body in refunds))


class Settled:
    def __init__(self, payments: list[dict[str, Any]], keys: list[dict[str, Any]]) -> None:
        self.payments = payments
        undecided = {"pending", "processing"}
        self.stuck = [
            p["_id"]
            for p in payments
            if p["status"] in undecided or any(r["status"] == "pending" for r in p["refunds"])
        ]
        # A new payment's key is answered on the payment, in the write of its outcome.
        on_payments = {a["key"] for p in payments for a in p.get("answers", []) if a.get("final")}
        status_of = {p["_id"]: p["status"] for p in payments}
        self.unanswered_keys = [
            (k["_id"], k.get("status"), status_of.get(k["payment_id"]))
            for k in keys
            if k.get("status") != "done" and k["_id"] not in on_payments
        ]
        self.unflushed = [p["_id"] for p in payments if p.get("unflushed_events")]


async def until_settled(prefix: str, infra: TestInfrastructure) -> Settled:
    """The payment database once reconciliation has decided everything, or as it is at the
    deadline (the assertions then say what is left)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb)
    db = client[f"{prefix}payment"]
    try:
        async with asyncio.timeout(SETTLED_WITHIN):
            while True:
                settled = Settled(
                    await db["payments"].find({}).to_list(),
                    await db["idempotency_keys"].find({}).to_list(),
                )
                if not settled.stuck and not settled.unanswered_keys:
                    return settled
                await asyncio.sleep(0.5)
    except TimeoutError:
        return settled
    finally:
        await client.close()


async def report_once_it_matches(
    settings: AnalyticsSettings, cid: str, stripe_api: FakeStripe, paypal_api: FakePayPal
) -> dict[str, Any]:
    """Analytics' report once its gross is the ledgers' (the last events may still travel)."""
    url = f"http://127.0.0.1:{settings.analytics_api_port}/v1/campaigns/{cid}/report"
    expected = usd(str(ProcessorLedger.of(stripe_api, paypal_api).gross))
    report: dict[str, Any] = {}
    async with httpx.AsyncClient(headers=REPORTS_AUTH) as http:
        try:
            async with asyncio.timeout(60):
                while report.get("totals", {}).get("gross") != expected:
                    await asyncio.sleep(0.5)
                    response = await http.get(url)
                    report = response.json() if response.status_code == 200 else {}
        except TimeoutError:
            pass  # the assertion that follows says what differs
    return report
