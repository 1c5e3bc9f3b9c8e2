"""The whole path, all six services on the real broker and database: request to revenue.

It runs once per engine setting: every AI step offline, on OpenAI or on Anthropic, the
providers played by one local fake that answers each step from the facts it is sent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.analytics.app import build as build_analytics
from services.analytics.settings import AnalyticsSettings
from services.content.app import build as build_content
from services.content.settings import ContentSettings
from services.launcher.app import build as build_launcher
from services.launcher.settings import LauncherSettings
from services.payment.app import build as build_payment
from services.payment.settings import PaymentSettings
from services.planner.app import build as build_planner
from services.planner.settings import PlannerSettings
from services.segmenter.app import build as build_segmenter
from services.segmenter.settings import SegmenterSettings
from shared.events.topics import (
    CAMPAIGN_CONTENT_GENERATED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_REQUESTED,
    CAMPAIGN_SEGMENTED,
    CUSTOMER_UPSERTED,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    REVENUE_RECORDED,
)
from shared.runtime import Service
from shared.settings import DEV_ONLY_PAYMENT_API_KEY
from tests.support.factories import campaign_id, campaign_request, customer
from tests.support.fake_llm import FakeLlm, fake_llm_server
from tests.support.infrastructure import TestInfrastructure
from tests.support.kafka import EventLog, Publisher, cloud_event, for_campaign
from tests.support.llm_responders import MODEL_MARK, answer_from_facts, requested_output
from tests.support.services import REPORTS_AUTH, running_all, settings_for

# (method, token, amount, expected fee, expected net) per the fee table.
PURCHASES = [
    ("credit_card", "pm_card_visa", "149.99", "4.65", "145.34"),
    ("paypal", "sandbox_ok", "80.00", "3.28", "76.72"),
    ("bitcoin", "sandbox_ok", "1000.00", "10.00", "990.00"),
]
DECLINED = ("debit_card", "pm_card_chargeDeclined", "59.00")
ENGINES = ("offline", "openai", "anthropic")
MODELS = {"openai": "gpt-4.1", "anthropic": "claude-sonnet-4-6"}
AI_TOPICS = (CAMPAIGN_PLANNED, CAMPAIGN_SEGMENTED, CAMPAIGN_CONTENT_GENERATED)
# Names no prompt, schema or product fact contains, so finding one in a request means a leak.
FIRST_NAMES = ("Ottilie", "Radomir", "Solveig", "Teodoro")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLlm]:
    with fake_llm_server() as server:
        yield server


def engine_settings(engine: str, fake: FakeLlm) -> dict[str, Any]:
    """What the planner, segmenter and content services need to run ``engine``."""
    if engine == "offline":
        return {}
    base_url = fake.openai_base_url if engine == "openai" else fake.anthropic_base_url
    return {
        f"{engine}_api_key": "test-key",
        f"{engine}_base_url": base_url,
        f"{engine}_model": MODELS[engine],
    }


async def import_customers(publisher: Publisher, count: int) -> list[dict[str, Any]]:
    records = []
    for i in range(count):
        tag = uuid.uuid4().hex[:8]
        record = customer(
            f"e2e-{tag}",
            orders_count=i % 5,
            email=f"shopper-{tag}@example.net",
            first_name=FIRST_NAMES[i % len(FIRST_NAMES)],
        )
        await publisher.send(
            CUSTOMER_UPSERTED,
            cloud_event(CUSTOMER_UPSERTED, record, subject=record["customer_id"]),
            key=record["customer_id"],
        )
        records.append(record)
    return records


async def wait_for_customers(url: str, at_least: int) -> None:
    async with httpx.AsyncClient(base_url=url, headers=REPORTS_AUTH) as http:
        for _ in range(300):
            if (await http.get("/v1/customers/count")).json()["customers"] >= at_least:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the segmenter never held {at_least} customers")


async def pay(
    http: httpx.AsyncClient, cid: str, method: str, token: str, amount: str, piece: dict[str, Any]
) -> httpx.Response:
    body = {
        "customer_id": f"shopper-{uuid.uuid4().hex[:6]}",
        "campaign_id": cid,
        "amount": {"amount": amount, "currency": "USD"},
        "payment_method": method,
        "payment_token": token,
        "attribution": {k: piece[k] for k in ("segment_id", "channel", "variant_id")},
    }
    return await http.post(
        "/v1/payments", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )


@pytest.mark.parametrize("engine", ENGINES)
async def test_campaign_request_flows_to_attributed_revenue_with_exact_amounts(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog, fake: FakeLlm, engine: str
) -> None:
    fake.script()
    fake.respond_with(answer_from_facts)
    ai = engine_settings(engine, fake)
    # Each run's own databases, so the segmenter holds exactly this run's customers.
    common = {"mongodb_db_prefix": f"{infra.db_prefix}e2e{uuid.uuid4().hex[:6]}_"}
    settings: dict[str, Any] = {
        "planner": settings_for(PlannerSettings, infra, planner_engine=engine, **common, **ai),
        "segmenter": settings_for(
            SegmenterSettings, infra, segmenter_engine=engine, **common, **ai
        ),
        "content": settings_for(ContentSettings, infra, content_engine=engine, **common, **ai),
        "launcher": settings_for(LauncherSettings, infra, **common),
        "payment": settings_for(PaymentSettings, infra, **common),
        "analytics": settings_for(AnalyticsSettings, infra, **common),
    }
    builds: list[Callable[[Any], Service]] = [
        build_planner,
        build_segmenter,
        build_content,
        build_launcher,
        build_payment,
        build_analytics,
    ]
    cid = campaign_id("e2e")
    segmenter_url = f"http://127.0.0.1:{settings['segmenter'].segmenter_health_port}"
    payment_url = f"http://127.0.0.1:{settings['payment'].payment_api_port}"
    analytics_url = f"http://127.0.0.1:{settings['analytics'].analytics_api_port}"
    campaign = for_campaign(cid)

    async with running_all(list(zip(builds, settings.values(), strict=True))):
        customers = await import_customers(publisher, 12)
        await wait_for_customers(segmenter_url, 12)
        request = cloud_event(CAMPAIGN_REQUESTED, campaign_request(cid), subject=cid)
        await publisher.send(CAMPAIGN_REQUESTED, request, key=cid)
        [launched] = await events.wait_for(CAMPAIGN_LAUNCHED, campaign, timeout=90)
        [content] = events.matching(CAMPAIGN_CONTENT_GENERATED, campaign)
        pieces = content["data"]["content"]

        headers = {"Authorization": f"Bearer {DEV_ONLY_PAYMENT_API_KEY}"}
        async with httpx.AsyncClient(base_url=payment_url, headers=headers) as http:
            completed = []
            for i, (method, token, amount, _, _) in enumerate(PURCHASES):
                response = await pay(http, cid, method, token, amount, pieces[i % len(pieces)])
                assert response.status_code == 201, response.text
                completed.append(response.json())
            declined = await pay(http, cid, *DECLINED, pieces[0])
            assert declined.status_code == 402, declined.text

        revenue = await events.wait_for(REVENUE_RECORDED, campaign, count=len(PURCHASES))
        await events.wait_for(PAYMENT_FAILED, campaign)
        report = await settled_report(analytics_url, cid, completed=3, failed=1)

    by_payment = {r["data"]["payment_id"]: r for r in revenue}
    assert set(by_payment) == {p["id"] for p in completed}
    assert declined.json()["id"] not in by_payment
    for payment, (_, _, amount, fee, net) in zip(completed, PURCHASES, strict=True):
        recorded = by_payment[payment["id"]]["data"]
        assert recorded["gross"] == {"amount": amount, "currency": "USD"}
        assert recorded["fee"] == {"amount": fee, "currency": "USD"}
        assert recorded["net"] == {"amount": net, "currency": "USD"}
        assert recorded["attribution"]["variant_id"] in {p["variant_id"] for p in pieces}

    assert launched["data"]["total_reach"] == sum(launched["data"]["reach"].values())
    totals = report["totals"]
    assert Decimal(totals["gross"]["amount"]) == Decimal("1229.99")
    assert Decimal(totals["fees"]["amount"]) == Decimal("17.93")
    assert Decimal(totals["net"]["amount"]) == Decimal("1212.06")
    assert totals["success_rate"] == 0.75
    assert_causal_chain(events, cid)
    assert_engines(events, cid, engine)
    if engine == "offline":
        assert fake.requests == []
    else:
        assert fake.responder_errors == []
        assert_no_customer_data_sent(fake, customers)


async def settled_report(url: str, cid: str, *, completed: int, failed: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers=REPORTS_AUTH) as http:
        for _ in range(300):
            response = await http.get(f"/v1/campaigns/{cid}/report")
            if response.status_code == 200:
                report: dict[str, Any] = response.json()
                totals = report["totals"]
                if (totals["payments_completed"], totals["payments_failed"]) == (completed, failed):
                    return report
            await asyncio.sleep(0.1)
    raise AssertionError(f"the report never showed {completed} completed and {failed} failed")


def assert_causal_chain(events: EventLog, cid: str) -> None:
    """Every event carries the campaign id as correlation id and names an event as its cause.

    Content and launch wait for several inputs; whichever arrived last is their cause.
    """
    campaign = for_campaign(cid)

    def only(topic: str) -> dict[str, Any]:
        [event] = events.matching(topic, campaign)
        assert event["correlationid"] == cid, topic
        return event

    requested, planned = only(CAMPAIGN_REQUESTED), only(CAMPAIGN_PLANNED)
    segmented, content = only(CAMPAIGN_SEGMENTED), only(CAMPAIGN_CONTENT_GENERATED)
    launched = only(CAMPAIGN_LAUNCHED)
    assert "causationid" not in requested
    assert planned["causationid"] == requested["id"]
    assert segmented["causationid"] == planned["id"]
    assert content["causationid"] in {planned["id"], segmented["id"]}
    assert launched["causationid"] in {planned["id"], segmented["id"], content["id"]}
    for topic in (PAYMENT_COMPLETED, REVENUE_RECORDED):
        assert all(e["correlationid"] == cid for e in events.matching(topic, campaign))


def assert_engines(events: EventLog, cid: str, engine: str) -> None:
    """Each AI step is labelled with the engine that answered and what its calls cost."""
    campaign = for_campaign(cid)
    expected = "offline" if engine == "offline" else f"{engine}:{MODELS[engine]}"
    for topic in AI_TOPICS:
        [event] = events.matching(topic, campaign)
        data = event["data"]
        assert data["engine"] == expected, topic
        if engine == "offline":
            assert Decimal(data["ai_cost"]) == 0, topic
        else:
            assert Decimal(data["ai_cost"]) > 0, topic
    if engine != "offline":
        [segmented] = events.matching(CAMPAIGN_SEGMENTED, campaign)
        assert all(s["name"].endswith(MODEL_MARK) for s in segmented["data"]["segments"])


def assert_no_customer_data_sent(fake: FakeLlm, customers: list[dict[str, Any]]) -> None:
    # Not vacuous: every AI step's request is in what was searched.
    assert {requested_output(r) for r in fake.requests} == {
        "PlanProposal",
        "SegmentNaming",
        "CopyDraft",
    }
    sent = fake.sent_text()
    leaked = [
        value
        for record in customers
        for value in (record["customer_id"], record["email"], record["first_name"])
        if value in sent
    ]
    assert leaked == []
