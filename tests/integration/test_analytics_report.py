"""The campaign report's journey sections, from real events through the real broker and
database: funnel, breakdowns, attribution models, lift, processors, and the per-channel
revenue campaign.performance carries to the planner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.analytics.app import build
from services.analytics.settings import AnalyticsSettings
from shared.events.topics import (
    ADS_REPORTED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PERFORMANCE,
    CAMPAIGN_PLANNED,
    ENGAGEMENT_BOUNCED,
    ENGAGEMENT_CLICKED,
    ENGAGEMENT_HELD_OUT,
    ENGAGEMENT_SENT,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_INITIATED,
    PAYMENT_REFUNDED,
    REVENUE_REVERSED,
)
from tests.integration.test_analytics import api, for_payment, paypal_payment, publish, report_once
from tests.integration.test_analytics_journeys import ad_click, engaged, recorded
from tests.support.factories import (
    ads_reported,
    campaign_id,
    campaign_launched_with_ads,
    campaign_planned,
    link_clicked,
    message_sent,
    money,
    payment_completed,
    payment_failed,
    payment_initiated,
    payment_refunded,
)
from tests.support.kafka import for_campaign
from tests.support.services import caught_up, running, settings_for

type Data = dict[str, Any]


def engagement(cid: str) -> tuple[dict[str, Data], list[tuple[str, Data]]]:
    """Six emailed (e1-e4 variant a, e4 bounced for good; e5-e6 variant b), four held out,
    e1 and e5 clicked, two ad clicks, and the ad set's report (a stale one after it)."""
    sends = {f"e{i}": message_sent(cid, customer_id=f"{cid}-e{i}") for i in range(1, 7)}
    for name in ("e5", "e6"):
        sends[name]["variant_id"] = "high_value-email-b"
    touches: dict[str, Data] = {
        "c1": link_clicked(cid, customer_id=f"{cid}-e1"),
        "c5": link_clicked(cid, customer_id=f"{cid}-e5", variant_id="high_value-email-b"),
        "a1": ad_click(cid),
        "a2": ad_click(cid),
    }
    now = datetime.now(UTC).isoformat()
    bounce = {"campaign_id": cid, "customer_id": f"{cid}-e4", "kind": "hard", "at": now}
    held = [
        {"campaign_id": cid, "customer_id": f"{cid}-h{i}", "segment_id": "high_value", "at": now}
        for i in range(1, 5)
    ]
    stale = ads_reported(cid, impressions=5000, as_of="2026-01-01T00:00:00+00:00")
    events = [
        *((ENGAGEMENT_SENT, sent) for sent in sends.values()),
        (ENGAGEMENT_BOUNCED, bounce | {"reason": "550 5.1.1 mailbox unavailable"}),
        *((ENGAGEMENT_HELD_OUT, h) for h in held),
        *((ENGAGEMENT_CLICKED, click) for click in touches.values()),
        (ADS_REPORTED, ads_reported(cid)),  # 12,000 impressions, 84.30 spent
        (ADS_REPORTED, stale),
    ]
    return touches, events


def payments(cid: str, clicks: dict[str, Data]) -> dict[str, Data]:
    return {
        "p1": payment_completed(cid, customer_id=f"{cid}-e1", click_id=clicks["c1"]["click_id"]),
        "p2": paypal_payment(cid) | {"customer_id": f"{cid}-e2"},  # credited to the send
        "p3": payment_completed(cid, customer_id=f"{cid}-x", click_id=clicks["a1"]["click_id"]),
        "p4": payment_completed(cid, customer_id=f"{cid}-h1"),  # held out: organic
        "p5": payment_completed(cid, customer_id=f"{cid}-e5", click_id=clicks["c5"]["click_id"]),
    }


async def test_the_report_shows_funnel_breakdowns_models_lift_and_processors(
    infra, publisher, events
):
    cid = campaign_id()
    clicks, touches = engagement(cid)
    paid = payments(cid, clicks)
    p1_started = datetime.fromisoformat(paid["p1"]["occurred_at"]) - timedelta(seconds=2)
    started = payment_initiated(cid, payment_id=paid["p1"]["payment_id"])
    started["occurred_at"] = p1_started.isoformat()
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings) as service, api(settings) as http:
        await publish(publisher, CAMPAIGN_PLANNED, campaign_planned(cid), cid)
        await publish(publisher, CAMPAIGN_LAUNCHED, campaign_launched_with_ads(cid), cid)
        await engaged(service, publisher, cid, *touches, (PAYMENT_INITIATED, started))
        for payment in paid.values():
            await publish(publisher, PAYMENT_COMPLETED, payment, cid)
        await publish(publisher, PAYMENT_FAILED, payment_failed(cid), cid)
        credited = {name: await recorded(events, payment) for name, payment in paid.items()}
        await publish(publisher, PAYMENT_REFUNDED, payment_refunded(paid["p5"], "50.00"), cid)
        await events.wait_for(REVENUE_REVERSED, for_payment(paid["p5"]["payment_id"]))
        await caught_up(service, PAYMENT_FAILED)
        report = await report_once(
            http, cid, lambda r: len(r["payments"]) == 6 and r["launch"] is not None
        )
        await http.post(f"/v1/campaigns/{cid}/performance")
        [performance] = await events.wait_for(CAMPAIGN_PERFORMANCE, for_campaign(cid))

    assert [credited[p]["attribution"]["channel"] for p in ("p1", "p2", "p3", "p5")] == [
        "email", "email", "social", "email",
    ]  # fmt: skip
    assert credited["p4"]["attribution"] == {}
    assert_funnel(report["funnel"])
    assert_breakdowns(report["breakdowns"])
    assert_models(report["attribution_models"])
    assert_lift(report["lift"])
    assert_processors(report["processors"])
    assert report["launch"]["held_out"] == 42  # as the launcher reported it
    data = performance["data"]
    assert data["revenue_by_channel"] == {
        "email": money("299.98"),  # 149.99 + 50.00 + 149.99, less the 50.00 refund
        "social": money("149.99"),
        "web": money("0.00"),
    }
    assert data["net_revenue_by_channel"]["email"] == money("289.99")


def assert_funnel(funnel: list[Data]) -> None:
    email, social = funnel
    assert (email["channel"], email["emailed"], email["delivered"]) == ("email", 6, 5)
    assert (email["clicked"], email["paid"]) == (2, 3)
    assert (social["impressions"], social["clicked"], social["paid"]) == (12000, 2, 1)


def assert_breakdowns(breakdowns: Data) -> None:
    email, social = breakdowns["channels"]
    assert (email["key"], email["recipients"], email["conversions"]) == ("email", 6, 3)
    assert email["conversion_rate"] == 0.5  # of the people emailed
    assert (email["gross"], email["net"]) == (money("299.98"), money("289.99"))
    assert email["spend"] == money("20000.00")  # the plan's email allocation
    assert (social["impressions"], social["clicks"], social["conversions"]) == (12000, 2, 1)
    assert social["conversion_rate"] == 0.5  # of the clicks, not of 12,000 impressions
    assert social["spend"] == money("84.30")
    assert social["roi"] == round((145.34 - 84.30) / 84.30, 4)
    variants = {row["key"]: row for row in breakdowns["variants"]}
    assert variants["high_value-email-a"]["recipients"] == 4
    assert variants["high_value-email-b"]["conversions"] == 1
    assert breakdowns["unattributed"]["payments"] == 1
    assert breakdowns["unattributed"]["net"] == money("145.34")


def assert_models(models: Data) -> None:
    # Email 289.99 (145.34 + 47.76 + 96.89 after its refund) and social 145.34.
    assert models["attributed_net"] == money("435.33")
    assert models["conversions"] == 4
    for dimension in ("channels", "segments", "variants"):
        for model in ("last_touch", "first_touch", "linear", "time_decay", "position_based"):
            column = sum(Decimal(row[model]["amount"]) for row in models[dimension])
            assert column == Decimal("435.33"), (dimension, model)
        markov = sum(Decimal(row["markov"]["amount"]) for row in models[dimension])
        assert markov == Decimal("435.33"), dimension
    last_touch = {row["key"]: row["last_touch"] for row in models["channels"]}
    assert last_touch == {"email": money("289.99"), "social": money("145.34")}


def assert_lift(lift: Data) -> None:
    assert (lift["treated"]["people"], lift["treated"]["converted"]) == (6, 3)
    assert (lift["held_out"]["people"], lift["held_out"]["converted"]) == (4, 1)
    assert lift["absolute_lift"] == 0.25  # 3/6 - 1/4
    low, high = lift["absolute_interval"]["low"], lift["absolute_interval"]["high"]
    assert low < 0.25 < high
    assert lift["relative_lift"] == 1.0


def assert_processors(processors: list[Data]) -> None:
    stripe, paypal = processors
    assert (stripe["processor"], stripe["completed"], stripe["failed"]) == ("stripe", 4, 1)
    assert stripe["success_rate"] == 0.8
    assert stripe["fees"] == money("18.60")  # 4 x 4.65, as charged
    assert stripe["mean_latency_seconds"] == 2.0  # p1 alone has a payment.initiated
    assert (paypal["completed"], paypal["mean_latency_seconds"]) == (1, None)
