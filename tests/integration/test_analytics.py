"""Analytics against the real broker and database."""

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from services.analytics.app import build
from services.analytics.payment_store import PaymentsRepository
from services.analytics.repository import CampaignTotalsRepository
from services.analytics.settings import AnalyticsSettings
from shared.events.topics import (
    CAMPAIGN_CONTENT_GENERATED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PERFORMANCE,
    CAMPAIGN_PLANNED,
    CAMPAIGN_SEGMENTED,
    ENGAGEMENT_SENT,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    REVENUE_RECORDED,
    REVENUE_REVERSED,
)
from tests.support.factories import (
    campaign_id,
    campaign_launched,
    campaign_planned,
    campaign_segmented,
    message_sent,
    money,
    payment_completed,
    payment_failed,
    payment_refunded,
)
from tests.support.kafka import Event, cloud_event, for_campaign
from tests.support.services import REPORTS_AUTH, caught_up, running, settings_for, until_async

type Report = dict[str, Any]


def for_payment(payment_id: str) -> Callable[[Event], bool]:
    return lambda e: e["data"].get("payment_id") == payment_id


def paypal_payment(cid: str) -> dict[str, Any]:
    """50.00 USD through PayPal: fee 2.24, net 47.76."""
    return payment_completed(
        cid, amount="50.00", fee="2.24", processor="paypal", payment_method="paypal"
    )


async def publish(publisher, topic: str, data: dict[str, Any], cid: str) -> Event:
    event = cloud_event(topic, data, subject=cid)
    await publisher.send(topic, event, key=cid)
    return event


async def report_once(
    http: httpx.AsyncClient, cid: str, settled: Callable[[Report], bool]
) -> Report:
    """The campaign's report, once every event the test sent has been consumed."""
    last: list[httpx.Response] = []

    async def poll() -> Report:
        while True:
            response = await http.get(f"/v1/campaigns/{cid}/report")
            last[:] = [response]
            if response.status_code == 200 and settled(response.json()):
                return response.json()  # type: ignore[no-any-return]
            await asyncio.sleep(0.2)

    try:
        return await asyncio.wait_for(poll(), 60)
    except TimeoutError:
        seen = f"{last[0].status_code} {last[0].text}" if last else "no answer"
        raise AssertionError(f"report of {cid} never settled; last: {seen}") from None


def api(settings: AnalyticsSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.analytics_api_port}", headers=REPORTS_AUTH
    )


async def test_each_completed_payment_records_revenue_once_and_failed_ones_none(
    infra, publisher, events
):
    cid = campaign_id()
    completed, declined = payment_completed(cid), payment_failed(cid)
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings), api(settings) as http:
        delivered = await publish(publisher, PAYMENT_COMPLETED, completed, cid)
        await publisher.send(PAYMENT_COMPLETED, delivered, key=cid)  # redelivered, same event id
        await publish(publisher, PAYMENT_COMPLETED, completed, cid)  # re-published, new event id
        await publish(publisher, PAYMENT_FAILED, declined, cid)
        await report_once(http, cid, lambda r: r["totals"]["payments_failed"] == 1)
        # Same key, so the same partitions: the sentinel is consumed and relayed after the rest.
        sentinel = payment_completed(cid)
        await publish(publisher, PAYMENT_COMPLETED, sentinel, cid)
        await events.wait_for(REVENUE_RECORDED, for_payment(sentinel["payment_id"]))
        report = await report_once(http, cid, lambda r: r["totals"]["payments_completed"] == 2)

    [revenue] = events.matching(REVENUE_RECORDED, for_payment(completed["payment_id"]))
    assert events.matching(REVENUE_RECORDED, for_payment(declined["payment_id"])) == []
    data = revenue["data"]
    assert (data["gross"], data["fee"], data["net"]) == (
        money("149.99"),
        money("4.65"),
        money("145.34"),
    )
    assert data["attribution"] == {}  # no touch of the customer's: organic
    assert "click_id" not in data
    assert (revenue["subject"], revenue["correlationid"]) == (cid, cid)
    assert revenue["causationid"] == delivered["id"]
    assert report["totals"]["gross"] == money("299.98")
    assert report["totals"]["payments_failed"] == 1


async def test_report_combines_plan_segments_reach_and_payments_in_any_order(infra, publisher):
    cid = campaign_id()
    settings = settings_for(AnalyticsSettings, infra)
    sent = message_sent(cid)
    async with running(build, settings) as service, api(settings) as http:
        await publish(publisher, ENGAGEMENT_SENT, sent, cid)
        await caught_up(service, ENGAGEMENT_SENT)  # the email came before the payment
        # Payments before the plan they belong to: totals start from whichever comes first.
        stripe = await publish(
            publisher,
            PAYMENT_COMPLETED,
            payment_completed(cid, customer_id=sent["customer_id"]),
            cid,
        )
        await publish(publisher, PAYMENT_COMPLETED, paypal_payment(cid), cid)
        await publish(publisher, PAYMENT_FAILED, payment_failed(cid), cid)
        await publish(publisher, CAMPAIGN_PLANNED, campaign_planned(cid, ai_cost="2.5"), cid)
        await publish(publisher, CAMPAIGN_SEGMENTED, campaign_segmented(cid, ai_cost="0.25"), cid)
        content = {"campaign_id": cid, "content": [], "ai_cost": "0.25"}
        await publish(publisher, CAMPAIGN_CONTENT_GENERATED, content, cid)
        await publish(publisher, CAMPAIGN_LAUNCHED, campaign_launched(cid), cid)
        report = await report_once(
            http,
            cid,
            lambda r: (
                len(r["payments"]) == 3
                and r["segments"]
                and r["reach"]["total"] > 0
                and Decimal(r["ai_cost"]) == Decimal("3")
            ),
        )
        missing = await http.get("/v1/campaigns/no-such-campaign/report")

    assert (report["name"], report["budget"]) == ("Spring sale", money("50000.00"))
    assert report["allocation"]["email"] == money("20000.00")
    assert (report["predicted_revenue"], report["predicted_roi"]) == (money("61234.50"), 0.2247)
    assert [s["segment_id"] for s in report["segments"]] == ["high_value", "at_risk"]
    assert report["reach"] == {"channels": {"email": 800, "social": 1200}, "total": 2000}
    totals = report["totals"]
    assert (totals["gross"], totals["fees"], totals["net"]) == (
        money("199.99"),
        money("6.89"),
        money("193.10"),
    )
    assert (totals["payments_completed"], totals["payments_failed"]) == (2, 1)
    assert (totals["success_rate"], totals["average_transaction"]) == (0.6667, money("100.00"))
    assert [(p["processor"], p["count"], p["gross"]) for p in totals["processor_mix"]] == [
        ("stripe", 1, money("149.99")),
        ("paypal", 1, money("50.00")),
    ]
    stripe_id = stripe["data"]["payment_id"]
    [stripe_line] = [p for p in report["payments"] if p["payment_id"] == stripe_id]
    assert (stripe_line["amount"], stripe_line["fee"], stripe_line["net"]) == (
        money("149.99"),
        money("4.65"),
        money("145.34"),
    )
    assert stripe_line["status"] == "completed"
    assert stripe_line["attribution"] == {
        "segment_id": "high_value",
        "channel": "email",
        "variant_id": "high_value-email-a",
    }  # from the email the customer was sent
    assert report["other_currencies"] == []
    assert report["spend"] == money("50003.00")  # the budget and the three AI steps
    assert report["actual_roi"] == -0.9961  # (193.10 - 50,003) / 50,003
    assert report["conversion_rate"] == 0.001
    assert missing.status_code == 404
    assert "no-such-campaign" in missing.json()["detail"]


async def test_performance_requested_over_http_is_emitted_with_the_totals(infra, publisher, events):
    cid = campaign_id()
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings), api(settings) as http:
        await publish(publisher, CAMPAIGN_PLANNED, campaign_planned(cid), cid)
        await publish(publisher, PAYMENT_COMPLETED, payment_completed(cid), cid)
        await report_once(http, cid, lambda r: r["name"] and r["totals"]["payments_completed"] == 1)
        accepted = await http.post(f"/v1/campaigns/{cid}/performance")
        [performance] = await events.wait_for(CAMPAIGN_PERFORMANCE, for_campaign(cid))
        unknown = await http.post("/v1/campaigns/no-such-campaign/performance")

    assert accepted.status_code == 202
    assert accepted.json()["event_id"] == performance["id"]
    data = performance["data"]
    assert (data["gross_revenue"], data["fees"], data["net_revenue"]) == (
        money("149.99"),
        money("4.65"),
        money("145.34"),
    )
    assert (data["payments_completed"], data["success_rate"]) == (1, 1.0)
    assert data["spend"] == money("50000.00")
    assert "other_currencies" not in data  # none: left out
    assert performance["correlationid"] == cid
    assert unknown.status_code == 404


async def test_performance_is_emitted_periodically_only_for_campaigns_that_changed(
    infra, publisher, events
):
    cid, quiet = campaign_id(), campaign_id()
    settings = settings_for(AnalyticsSettings, infra, analytics_performance_interval_seconds=0.3)
    async with running(build, settings):
        await publish(publisher, PAYMENT_COMPLETED, payment_completed(cid), cid)
        await events.wait_for(
            CAMPAIGN_PERFORMANCE,
            lambda e: for_campaign(cid)(e) and e["data"]["payments_completed"] == 1,
        )
        await publish(publisher, PAYMENT_COMPLETED, paypal_payment(cid), cid)
        [*_, latest] = await events.wait_for(
            CAMPAIGN_PERFORMANCE,
            lambda e: for_campaign(cid)(e) and e["data"]["payments_completed"] == 2,
        )
        # Two later rounds that report another campaign, and so would have re-reported cid.
        for _ in range(2):
            await publish(publisher, PAYMENT_COMPLETED, payment_completed(quiet), quiet)
            count = len(events.matching(CAMPAIGN_PERFORMANCE, for_campaign(quiet))) + 1
            await events.wait_for(CAMPAIGN_PERFORMANCE, for_campaign(quiet), count=count)

    assert latest["data"]["gross_revenue"] == money("199.99")
    assert len(events.matching(CAMPAIGN_PERFORMANCE, for_campaign(cid))) == 2


async def test_redelivered_refunds_reverse_each_refund_once_and_the_net_drops_exactly(
    infra, publisher, events
):
    cid = campaign_id()
    completed = payment_completed(cid)  # 149.99, fee 4.65, net 145.34
    partly = payment_refunded(completed, "50.00")
    fully = payment_refunded(completed, "99.99", refunded_total="149.99")
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings), api(settings) as http:
        await publish(publisher, PAYMENT_COMPLETED, completed, cid)
        await events.wait_for(REVENUE_RECORDED, for_payment(completed["payment_id"]))
        first = await publish(publisher, PAYMENT_REFUNDED, partly, cid)
        await publisher.send(PAYMENT_REFUNDED, first, key=cid)  # redelivered, same event id
        await publish(publisher, PAYMENT_REFUNDED, partly, cid)  # re-published, new event id
        await publish(publisher, PAYMENT_REFUNDED, fully, cid)
        await publish(publisher, PAYMENT_REFUNDED, fully, cid)
        # Same key, so the same partition: the sentinel's refund is consumed after the rest.
        sentinel = paypal_payment(cid)  # 50.00, fee 2.24, net 47.76
        await publish(publisher, PAYMENT_COMPLETED, sentinel, cid)
        await publish(publisher, PAYMENT_REFUNDED, payment_refunded(sentinel, "10.00"), cid)
        await events.wait_for(REVENUE_REVERSED, for_payment(sentinel["payment_id"]))
        report = await report_once(http, cid, lambda r: r["totals"]["payments_refunded"] == 2)
        await http.post(f"/v1/campaigns/{cid}/performance")
        [performance] = await events.wait_for(CAMPAIGN_PERFORMANCE, for_campaign(cid))

    reversals = events.matching(REVENUE_REVERSED, for_payment(completed["payment_id"]))
    assert [r["data"]["refund_id"] for r in reversals] == [
        partly["refund_id"],
        fully["refund_id"],
    ]
    assert [(r["data"]["gross"], r["data"]["fee"], r["data"]["net"]) for r in reversals] == [
        (money("50.00"), money("1.55"), money("48.45")),  # 4.65 x 50.00 / 149.99 = 1.5501
        (money("99.99"), money("3.10"), money("96.89")),  # the rest of the fee, exactly
    ]
    assert reversals[0]["causationid"] == first["id"]
    assert (reversals[0]["subject"], reversals[0]["correlationid"]) == (cid, cid)
    totals = report["totals"]
    # Left: the sentinel less its 10.00 refund, whose fee share is 2.24 x 10 / 50 = 0.448.
    assert (totals["gross"], totals["fees"], totals["net"]) == (
        money("40.00"),
        money("1.79"),
        money("38.21"),
    )
    assert (totals["refunded"], totals["payments_refunded"]) == (money("159.99"), 2)
    assert (totals["payments_completed"], totals["payments_failed"]) == (2, 0)
    lines = {line["payment_id"]: line for line in report["payments"]}
    refunded_line = lines[completed["payment_id"]]
    assert (refunded_line["status"], refunded_line["refunded"]) == ("refunded", money("149.99"))
    assert refunded_line["net"] == money("145.34")  # as it completed
    assert lines[sentinel["payment_id"]]["status"] == "partially_refunded"
    data = performance["data"]
    assert (data["gross_revenue"], data["net_revenue"], data["refunds"]) == (
        money("40.00"),
        money("38.21"),
        money("159.99"),
    )


async def test_refund_announced_before_its_payment_completed_reverses_the_revenue_once(
    infra, publisher, events
):
    cid = campaign_id()
    completed = payment_completed(cid)
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings), api(settings) as http:
        refund = payment_refunded(completed, "149.99")
        early = await publish(publisher, PAYMENT_REFUNDED, refund, cid)
        await events.wait_for(REVENUE_REVERSED, for_payment(completed["payment_id"]))
        await publish(publisher, PAYMENT_COMPLETED, completed, cid)  # late
        sentinel = payment_completed(cid)
        await publish(publisher, PAYMENT_COMPLETED, sentinel, cid)
        await events.wait_for(REVENUE_RECORDED, for_payment(sentinel["payment_id"]))
        report = await report_once(http, cid, lambda r: r["totals"]["payments_completed"] == 2)

    # Recorded from the refund, which carries the completed payment's amount, fee and net.
    [recorded] = events.matching(REVENUE_RECORDED, for_payment(completed["payment_id"]))
    [reversed_] = events.matching(REVENUE_REVERSED, for_payment(completed["payment_id"]))
    assert recorded["causationid"] == early["id"]
    assert recorded["data"]["net"] == money("145.34")
    assert (reversed_["data"]["gross"], reversed_["data"]["net"]) == (
        money("149.99"),
        money("145.34"),
    )
    totals = report["totals"]
    assert (totals["gross"], totals["fees"], totals["net"]) == (
        money("149.99"),
        money("4.65"),
        money("145.34"),
    )  # the sentinel's alone
    assert (totals["refunded"], totals["payments_refunded"]) == (money("149.99"), 1)


async def test_failure_after_a_completion_changes_nothing(infra, publisher, events):
    cid = campaign_id()
    completed = payment_completed(cid)
    late_failure = payment_failed(cid, payment_id=completed["payment_id"])
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings), api(settings) as http:
        await publish(publisher, PAYMENT_COMPLETED, completed, cid)
        await events.wait_for(REVENUE_RECORDED, for_payment(completed["payment_id"]))
        await publish(publisher, PAYMENT_FAILED, late_failure, cid)
        sentinel = payment_failed(cid)  # same topic and key: consumed after the late failure
        await publish(publisher, PAYMENT_FAILED, sentinel, cid)
        report = await report_once(http, cid, lambda r: r["totals"]["payments_failed"] == 1)

    lines = {line["payment_id"]: line for line in report["payments"]}
    assert lines[completed["payment_id"]]["status"] == "completed"
    assert lines[sentinel["payment_id"]]["status"] == "failed"
    assert report["totals"]["payments_completed"] == 1


async def test_a_report_is_one_snapshot_even_when_a_payment_lands_while_it_is_read(
    infra, publisher, monkeypatch
):
    # The report reads the totals, then the payment lines: a payment committed between the two
    # reads showed in the lines but not in the totals (three payments, gross of two).
    cid = campaign_id()
    settings = settings_for(AnalyticsSettings, infra)
    read_totals = CampaignTotalsRepository.get
    late = payment_completed(cid, amount="50.00", fee="2.24")

    async def a_payment_lands_after(repository: CampaignTotalsRepository, campaign: str) -> Any:
        totals = await read_totals(repository, campaign)
        if campaign == cid and late_lines.is_set() is False:
            late_lines.set()
            await publish(publisher, PAYMENT_COMPLETED, late, cid)
            payments = PaymentsRepository(service.infra.db)

            async def stored() -> bool:
                lines = await payments.for_campaign(cid)
                return any(line.payment_id == late["payment_id"] for line in lines)

            await until_async(stored, what="the late payment stored")
        return totals

    late_lines = asyncio.Event()
    async with running(build, settings) as service, api(settings) as http:
        await publish(publisher, CAMPAIGN_PLANNED, campaign_planned(cid), cid)
        await publish(publisher, PAYMENT_COMPLETED, payment_completed(cid), cid)
        await report_once(http, cid, lambda r: r["totals"]["payments_completed"] == 1)
        monkeypatch.setattr(CampaignTotalsRepository, "get", a_payment_lands_after)
        response = await http.get(f"/v1/campaigns/{cid}/report")

    report = response.json()
    assert late_lines.is_set()
    assert report["totals"]["payments_completed"] == len(report["payments"])
    assert report["totals"]["gross"] == money(
        str(sum(Decimal(p["amount"]["amount"]) for p in report["payments"]))
    )
