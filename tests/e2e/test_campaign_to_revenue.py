"""The whole path, all six services on the real broker and database: request to revenue.

Customers are imported, a campaign requested to send at once; its emails reach a real SMTP
sink, shoppers open them and follow the tracked links (the launcher answers with a click
id), one buys through an ad clicked on the sandbox exchange, one buys with no click at all,
and every sale is credited from that journey, never from what the payment body claims.

It runs once per engine setting: every AI step offline, on OpenAI or on Anthropic, the
providers played by one local fake that answers each step from the facts it is sent.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

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
    CAMPAIGN_AUDIENCE,
    CAMPAIGN_CONTENT_GENERATED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_REQUESTED,
    CAMPAIGN_SEGMENTED,
    CUSTOMER_UPSERTED,
    ENGAGEMENT_CLICKED,
    ENGAGEMENT_SENT,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    REVENUE_RECORDED,
)
from shared.runtime import Service
from shared.settings import DEV_ONLY_PAYMENT_API_KEY
from tests.support.ad_exchange import RunningExchange, new_account, sandbox_exchange
from tests.support.factories import campaign_id, campaign_request, customer
from tests.support.fake_llm import FakeLlm, fake_llm_server
from tests.support.infrastructure import TestInfrastructure, free_port
from tests.support.kafka import EventLog, Publisher, cloud_event, for_campaign
from tests.support.llm_responders import MODEL_MARK, answer_from_facts, requested_output
from tests.support.services import REPORTS_AUTH, caught_up, running_all, settings_for
from tests.support.smtp_sink import SinkUnderTest, smtp_sink
from tests.support.tracing import recorded_spans, trace_id_of

# (method, token, amount, expected fee, expected net) per the fee table.
PURCHASES = [
    ("credit_card", "pm_card_visa", "149.99", "4.65", "145.34"),
    ("paypal", "sandbox_ok", "80.00", "3.28", "76.72"),
    ("bitcoin", "sandbox_ok", "1000.00", "10.00", "990.00"),
]
DECLINED = ("debit_card", "pm_card_chargeDeclined", "59.00")
AD_PURCHASE = ("credit_card", "pm_card_mastercard", "59.98")
ORGANIC_PURCHASE = ("debit_card", "pm_card_visa_debit", "59.98")
ENGINES = ("offline", "openai", "anthropic")
MODELS = {"openai": "gpt-4.1", "anthropic": "claude-sonnet-4-6"}
AI_TOPICS = (CAMPAIGN_PLANNED, CAMPAIGN_SEGMENTED, CAMPAIGN_CONTENT_GENERATED)
# Names no prompt, schema or product fact contains, so finding one in a request means a leak.
FIRST_NAMES = ("Ottilie", "Radomir", "Solveig", "Teodoro")


@pytest.fixture(scope="module", autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    """The tracer provider ``main`` installs, so events carry their trace context."""
    yield from recorded_spans()


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
    http: httpx.AsyncClient,
    cid: str,
    customer_id: str,
    method: str,
    token: str,
    amount: str,
    click_id: str | None,
    claimed: dict[str, Any] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "campaign_id": cid,
        "amount": {"amount": amount, "currency": "USD"},
        "payment_method": method,
        "payment_token": token,
    }
    if click_id:
        body["click_id"] = click_id
    if claimed:
        body["attribution"] = claimed  # an older storefront's claim: accepted, never trusted
    return await http.post(
        "/v1/payments", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )


TRACKED_LINK = re.compile(r"http://127\.0\.0\.1:\d+/t/[A-Za-z0-9._-]+")


async def click_through(sink: SinkUnderTest, address: str) -> tuple[str, str]:
    """Open the one email ``address`` received and follow its tracked link, as a shopper
    would: the launcher answers 302 to the landing page with the click id. Returns the
    landing URL and the click id."""
    [kept] = sink.messages(to=address)
    text = sink.parsed(kept).get_body(preferencelist=("plain",))
    assert text is not None
    link = TRACKED_LINK.search(text.get_content())
    assert link is not None, "no tracked link in the email"
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        answer = await browser.get(link.group(0))
    assert answer.status_code == 302, answer.text
    landing = answer.headers["location"]
    [click_id] = parse_qs(urlsplit(landing).query)["cid"]
    return landing, click_id


@pytest.mark.parametrize("engine", ENGINES)
async def test_campaign_request_flows_to_revenue_attributed_from_the_journey(
    infra: TestInfrastructure,
    publisher: Publisher,
    events: EventLog,
    fake: FakeLlm,
    engine: str,
    tmp_path: Path,
) -> None:
    fake.script()
    fake.respond_with(answer_from_facts)
    ai = engine_settings(engine, fake)
    # Each run's own databases, so the segmenter holds exactly this run's customers.
    common = {"mongodb_db_prefix": f"{infra.db_prefix}e2e{uuid.uuid4().hex[:6]}_"}
    launcher_port = free_port()
    async with smtp_sink(tmp_path / "mail") as sink:
        with sandbox_exchange() as exchange:
            launcher = settings_for(
                LauncherSettings,
                infra,
                launcher_api_port=launcher_port,
                launcher_public_url=f"http://127.0.0.1:{launcher_port}",
                launcher_smtp_url=sink.url,
                launcher_ad_platform_url=exchange.base_url,
                launcher_ad_account_id=new_account(),
                launcher_ads_report_seconds=0.2,
                launcher_holdout_share=Decimal(0),
                launcher_waves=1,  # every shopper is emailed at launch, not in waves
                **common,
            )
            await run_campaign(
                infra, publisher, events, fake, engine, ai, common, launcher, sink, exchange
            )


async def run_campaign(
    infra: TestInfrastructure,
    publisher: Publisher,
    events: EventLog,
    fake: FakeLlm,
    engine: str,
    ai: dict[str, Any],
    common: dict[str, Any],
    launcher: LauncherSettings,
    sink: SinkUnderTest,
    exchange: RunningExchange,
) -> None:
    settings: dict[str, Any] = {
        "planner": settings_for(PlannerSettings, infra, planner_engine=engine, **common, **ai),
        "segmenter": settings_for(
            SegmenterSettings, infra, segmenter_engine=engine, **common, **ai
        ),
        "content": settings_for(ContentSettings, infra, content_engine=engine, **common, **ai),
        "launcher": launcher,
        "payment": settings_for(PaymentSettings, infra, **common),
        "analytics": settings_for(
            AnalyticsSettings, infra, analytics_click_grace_seconds=30, **common
        ),
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
    launcher_url = f"http://127.0.0.1:{launcher.launcher_api_port}"
    payment_url = f"http://127.0.0.1:{settings['payment'].payment_api_port}"
    analytics_url = f"http://127.0.0.1:{settings['analytics'].analytics_api_port}"
    campaign = for_campaign(cid)

    async with running_all(list(zip(builds, settings.values(), strict=True))) as services:
        customers = await import_customers(publisher, 12)
        await wait_for_customers(segmenter_url, 12)
        await wait_for_customers(launcher_url, 12)
        requested = campaign_request(cid, send_in_local_windows=False)
        await publisher.send(
            CAMPAIGN_REQUESTED, cloud_event(CAMPAIGN_REQUESTED, requested, subject=cid), key=cid
        )
        [launched] = await events.wait_for(CAMPAIGN_LAUNCHED, campaign, timeout=90)
        sent = await events.wait_for(
            ENGAGEMENT_SENT, campaign, count=launched["data"]["messages_accepted"]
        )
        # Three shoppers open their email and click through; a fourth buys on an ad.
        recipients = {e["data"]["customer_id"]: e["data"] for e in sent}
        by_id = {c["customer_id"]: c for c in customers}
        shoppers = sorted(recipients)[:3]
        journeys = [await click_through(sink, by_id[c]["email"]) for c in shoppers]
        await exchange.advance(900)
        ad_clicks = await events.wait_for(
            ENGAGEMENT_CLICKED, lambda e: campaign(e) and e["data"]["source"] == "ad", timeout=60
        )
        ad_click = ad_clicks[0]["data"]
        # Analytics resumes the consumer group earlier tests shared, with their clicks still
        # to read: once it has read every click published so far, these shoppers' payments
        # find their clicks, rather than parking for the grace and being credited without.
        await caught_up(services[-1], ENGAGEMENT_CLICKED, timeout=300)

        headers = {"Authorization": f"Bearer {DEV_ONLY_PAYMENT_API_KEY}"}
        lie = {"segment_id": "made_up", "channel": "web", "variant_id": "made_up-web-z"}
        async with httpx.AsyncClient(base_url=payment_url, headers=headers) as http:
            completed = []
            for i, (method, token, amount, _, _) in enumerate(PURCHASES):
                _, click_id = journeys[i]
                response = await pay(
                    http, cid, shoppers[i], method, token, amount, click_id, lie if i == 0 else None
                )
                assert response.status_code == 201, response.text
                completed.append(response.json())
            on_ad = await pay(http, cid, f"ad-shopper-{cid}", *AD_PURCHASE, ad_click["click_id"])
            assert on_ad.status_code == 201, on_ad.text
            organic = await pay(http, cid, f"walk-in-{cid}", *ORGANIC_PURCHASE, None)
            assert organic.status_code == 201, organic.text
            declined = await pay(http, cid, shoppers[0], *DECLINED, None)
            assert declined.status_code == 402, declined.text

        revenue = await events.wait_for(REVENUE_RECORDED, campaign, count=len(PURCHASES) + 2)
        await events.wait_for(PAYMENT_FAILED, campaign)
        report = await settled_report(analytics_url, cid, completed=5, failed=1)

    by_payment = {r["data"]["payment_id"]: r["data"] for r in revenue}
    assert declined.json()["id"] not in by_payment
    clicks = {
        e["data"]["click_id"]: e["data"] for e in events.matching(ENGAGEMENT_CLICKED, campaign)
    }
    for payment, (_, click_id), (_, _, amount, fee, net) in zip(
        completed, journeys, PURCHASES, strict=True
    ):
        recorded = by_payment[payment["id"]]
        assert recorded["gross"] == {"amount": amount, "currency": "USD"}
        assert recorded["fee"] == {"amount": fee, "currency": "USD"}
        assert recorded["net"] == {"amount": net, "currency": "USD"}
        # Credited to the variant the shopper was sent and clicked, whatever the body claimed.
        click = clicks[click_id]
        assert recorded["click_id"] == click_id
        assert recorded["attribution"] == {
            "segment_id": click["segment_id"],
            "channel": "email",
            "variant_id": click["variant_id"],
        }
        assert click["variant_id"] == recipients[payment["customer_id"]]["variant_id"]
    ad_sale = by_payment[on_ad.json()["id"]]
    assert ad_sale["attribution"]["channel"] == ad_click["channel"]
    assert ad_sale["attribution"]["variant_id"] == ad_click["variant_id"]
    assert by_payment[organic.json()["id"]].get("attribution", {}).get("channel") is None

    data = launched["data"]
    assert data["total_reach"] == sum(data["reach"].values())
    # The sink may also hold a message of an earlier test's campaign that this launcher,
    # resuming the shared consumer group, completed: count this campaign's, each once.
    mine = sink.messages(campaign=cid)
    assert data["messages_accepted"] == len(mine) > 0
    assert len({m.rcpt_tos[0] for m in mine}) == len(mine)
    assert {a["channel"] for a in data["ad_sets"]} == {"social", "web"}
    totals = report["totals"]
    assert Decimal(totals["gross"]["amount"]) == Decimal("1229.99") + Decimal("59.98") * 2
    assert totals["success_rate"] == 0.8333  # 5 of 6, as the report rounds it
    assert_causal_chain(events, cid)
    assert_one_trace_each(events, cid)
    assert_engines(events, cid, engine)
    if engine == "offline":
        assert fake.requests == []
    else:
        assert fake.responder_errors == []
        assert_no_customer_data_sent(fake, customers)


async def settled_report(url: str, cid: str, *, completed: int, failed: int) -> dict[str, Any]:
    last: object = None
    async with httpx.AsyncClient(base_url=url, headers=REPORTS_AUTH) as http:
        for _ in range(300):
            response = await http.get(f"/v1/campaigns/{cid}/report")
            if response.status_code == 200:
                report: dict[str, Any] = response.json()
                totals = report["totals"]
                last = {
                    "totals": totals,
                    "awaiting_attribution": report["awaiting_attribution"],
                    "payments": [(p["payment_id"], p["status"]) for p in report["payments"]],
                }
                if (totals["payments_completed"], totals["payments_failed"]) == (completed, failed):
                    return report
            await asyncio.sleep(0.1)
    raise AssertionError(
        f"the report never showed {completed} completed and {failed} failed; last: {last}"
    )


def assert_causal_chain(events: EventLog, cid: str) -> None:
    """Every event carries the campaign id as correlation id and names an event as its cause.

    Content and launch wait for several inputs (the launch also for every audience chunk);
    whichever arrived last is their cause.
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
    # The launch's inputs include the audience chunks: the last of them may complete it.
    chunks = {e["id"] for e in events.matching(CAMPAIGN_AUDIENCE, campaign)}
    assert chunks
    assert launched["causationid"] in {planned["id"], segmented["id"], content["id"], *chunks}
    for topic in (PAYMENT_COMPLETED, REVENUE_RECORDED):
        assert all(e["correlationid"] == cid for e in events.matching(topic, campaign))


def assert_one_trace_each(events: EventLog, cid: str) -> None:
    """The campaign's pipeline is one trace, from the planner's reading of the request to
    the launch; each sale is one trace, from its payment to its revenue."""
    campaign = for_campaign(cid)
    pipeline = (
        CAMPAIGN_PLANNED,
        CAMPAIGN_SEGMENTED,
        CAMPAIGN_AUDIENCE,
        CAMPAIGN_CONTENT_GENERATED,
        CAMPAIGN_LAUNCHED,
    )
    traces = {trace_id_of(e["traceparent"]) for t in pipeline for e in events.matching(t, campaign)}
    assert len(traces) == 1, traces
    paid = {e["data"]["payment_id"]: e for e in events.matching(PAYMENT_COMPLETED, campaign)}
    for revenue in events.matching(REVENUE_RECORDED, campaign):
        payment = paid[revenue["data"]["payment_id"]]
        assert trace_id_of(revenue["traceparent"]) == trace_id_of(payment["traceparent"])
    assert len({trace_id_of(e["traceparent"]) for e in paid.values()} - traces) == len(paid)


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
