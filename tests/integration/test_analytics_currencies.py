"""Analytics records every valid captured payment whatever its currency, against the real
broker and database: totals are kept per currency and ROI in the budget's."""

from __future__ import annotations

from typing import Any

from services.analytics.app import build
from services.analytics.settings import AnalyticsSettings
from shared.events.topics import CAMPAIGN_PLANNED, PAYMENT_COMPLETED, REVENUE_RECORDED
from tests.integration.test_analytics import api, for_payment, publish, report_once
from tests.support.factories import campaign_id, campaign_planned, payment_completed
from tests.support.services import running, settings_for


def euro_payment(cid: str) -> dict[str, Any]:
    """100.00 EUR captured by Stripe: fee 3.20, net 96.80."""
    return payment_completed(cid, amount="100.00", fee="3.20", currency="EUR")


async def test_payment_in_another_currency_than_the_budget_is_recorded_beside_it(
    infra: Any, publisher: Any, events: Any
) -> None:
    cid = campaign_id()
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings), api(settings) as http:
        await publish(publisher, CAMPAIGN_PLANNED, campaign_planned(cid), cid)
        await report_once(http, cid, lambda r: r["budget"] is not None)
        dollars, euros = payment_completed(cid), euro_payment(cid)
        await publish(publisher, PAYMENT_COMPLETED, dollars, cid)
        await publish(publisher, PAYMENT_COMPLETED, euros, cid)
        [revenue] = await events.wait_for(REVENUE_RECORDED, for_payment(euros["payment_id"]))
        report = await report_once(http, cid, lambda r: r["totals"]["payments_completed"] == 2)

    assert revenue["data"]["net"] == {"amount": "96.80", "currency": "EUR"}
    assert report["totals"]["net"] == {"amount": "145.34", "currency": "USD"}
    assert report["other_currencies"] == [
        {
            "currency": "EUR",
            "gross": {"amount": "100.00", "currency": "EUR"},
            "fees": {"amount": "3.20", "currency": "EUR"},
            "net": {"amount": "96.80", "currency": "EUR"},
            "payments_completed": 1,
            "refunded": {"amount": "0.00", "currency": "EUR"},
        }
    ]
    # (145.34 - 50,000) / 50,000: only the budget's currency counts towards ROI.
    assert report["actual_roi"] == round((145.34 - 50_000) / 50_000, 4)


async def test_payment_before_the_plan_in_another_currency_never_blocks_the_plan(
    infra: Any, publisher: Any, events: Any
) -> None:
    cid = campaign_id()
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings), api(settings) as http:
        euros = euro_payment(cid)
        await publish(publisher, PAYMENT_COMPLETED, euros, cid)
        await events.wait_for(REVENUE_RECORDED, for_payment(euros["payment_id"]))
        await publish(publisher, CAMPAIGN_PLANNED, campaign_planned(cid), cid)
        dollars = payment_completed(cid)
        await publish(publisher, PAYMENT_COMPLETED, dollars, cid)
        await events.wait_for(REVENUE_RECORDED, for_payment(dollars["payment_id"]))
        report = await report_once(
            http, cid, lambda r: r["budget"] is not None and r["totals"]["payments_completed"]
        )

    assert report["budget"] == {"amount": "50000.00", "currency": "USD"}
    assert report["totals"]["gross"] == {"amount": "149.99", "currency": "USD"}
    assert [c["currency"] for c in report["other_currencies"]] == ["EUR"]
