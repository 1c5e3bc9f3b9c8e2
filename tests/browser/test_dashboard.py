"""The dashboard in a real browser: log in through the form, see the campaign page drawn from
the report API's figures without a console error, its A/B verdicts, weights, allocation and
bids as the real optimiser and the decisions it got back left them, and watch a decision and
a payment made meanwhile appear on the open page. Set DASHBOARD_SCREENSHOT=<path> to keep a
picture of the page (`make screenshot` writes docs/images/dashboard.png)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from services.analytics.app import build
from services.analytics.settings import AnalyticsSettings
from shared.events.topics import (
    ADS_ADJUSTED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_REALLOCATED,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
)
from shared.runtime import Service
from shared.settings import DEV_ONLY_ANALYTICS_API_KEY
from tests.browser.page_checks import Report, assert_page_shows
from tests.integration.test_analytics import api, publish, report_once
from tests.integration.test_analytics_journeys import engaged
from tests.integration.test_analytics_optimiser import (
    A,
    B,
    adjusted,
    evaluated,
    paid,
    reallocated,
    sends,
)
from tests.integration.test_analytics_report import engagement, payments
from tests.support.factories import (
    campaign_id,
    campaign_launched_with_ads,
    campaign_planned,
    money,
    payment_completed,
    payment_failed,
)
from tests.support.kafka import EventLog, Publisher
from tests.support.services import running, settings_for

type Data = dict[str, Any]

PLANNED = {"email": "20000.00", "social": "17500.00", "web": "12500.00"}
REALLOCATED = [
    {"email": "22000.00", "social": "17000.00", "web": "11000.00"},
    {"email": "24500.00", "social": "16000.00", "web": "9500.00"},
    {"email": "26000.00", "social": "15500.00", "web": "8500.00"},
]
RATIONALES = [
    "Email earns more per dollar than web; 2,000.00 moves to email.",
    "Variant b keeps converting best; email takes 2,500.00 more from web and social.",
    "Email still leads; 1,500.00 more moves to it, web keeps its minimum share.",
]


def watch_for_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def log_in(page: Page, base: str, path: str, key: str) -> None:
    await page.goto(f"{base}{path}")
    await expect(page.locator("#key")).to_be_visible()
    await page.fill("#key", key)
    await page.click("button[type=submit]")


def split(amounts: dict[str, str]) -> dict[str, Data]:
    return {channel: money(amount) for channel, amount in amounts.items()}


def reallocation(cid: str, cycle: int) -> Data:
    """The planner's answer to ``cycle``, moving budget towards email a step at a time."""
    before = PLANNED if cycle == 0 else REALLOCATED[cycle - 1]
    return reallocated(cid, cycle) | {
        "previous": split(before),
        "allocation": split(REALLOCATED[cycle]),
        "spent": split({"email": "300.00", "social": "84.30", "web": "0.00"}),
        "remaining": money("49615.70"),
        "reasons": [f"cycle {cycle}: email earned the most net revenue per dollar"],
        "rationale": RATIONALES[cycle],
    }


def bid_change(cid: str, bid_before: str, bid: str, minutes_ago: int) -> Data:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return adjusted(cid) | {
        "bid_before": money(bid_before), "bid": money(bid), "at": at.isoformat(),
    }  # fmt: skip


async def optimised(
    service: Service, publisher: Publisher, events: EventLog, http: httpx.AsyncClient, cid: str
) -> None:
    """Two cycles of the real optimiser over an email test of two variants in one segment,
    the planner's answer to each and two bid changes on the social ad set."""
    await engaged(service, publisher, cid, *sends(cid, A, range(16)), *sends(cid, B, range(16)))
    await paid(service, publisher, events, cid, "a0", "b0", "b1", "b2")
    await evaluated(http, cid)
    await paid(service, publisher, events, cid, "b3", "b4", "b5")
    await evaluated(http, cid)
    for cycle in (0, 1):
        await publish(publisher, CAMPAIGN_REALLOCATED, reallocation(cid, cycle), cid)
    for change in (bid_change(cid, "9.00", "8.10", 20), bid_change(cid, "8.10", "7.60", 5)):
        await publish(publisher, ADS_ADJUSTED, change, cid)


async def test_the_campaign_page_shows_the_report_its_optimisation_and_what_lands_meanwhile(
    infra, publisher, events, browser: Browser
):
    cid = campaign_id()
    clicks, touches = engagement(cid)
    # Cycles only when the test asks for one, so each step knows which cycle it is.
    settings = settings_for(AnalyticsSettings, infra, optimiser_interval_seconds=3600)
    base = f"http://127.0.0.1:{settings.analytics_api_port}"
    ends = datetime.now(UTC) + timedelta(days=7)
    schedule = {"starts_at": datetime.now(UTC).isoformat(), "ends_at": ends.isoformat()}
    async with running(build, settings) as service, api(settings) as http:
        await publish(publisher, CAMPAIGN_PLANNED, campaign_planned(cid, schedule=schedule), cid)
        await publish(publisher, CAMPAIGN_LAUNCHED, campaign_launched_with_ads(cid), cid)
        await engaged(service, publisher, cid, *touches)
        for payment in payments(cid, clicks).values():
            await publish(publisher, PAYMENT_COMPLETED, payment, cid)
        await publish(publisher, PAYMENT_FAILED, payment_failed(cid), cid)
        await optimised(service, publisher, events, http, cid)
        report = await report_once(http, cid, settled(completed=12, cycles=2, reallocations=2))

        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        errors = watch_for_errors(page)
        await log_in(page, base, f"/dashboard/campaigns/{cid}", DEV_ONLY_ANALYTICS_API_KEY)
        await expect(page).to_have_url(f"{base}/dashboard/campaigns/{cid}")
        await expect(page.locator("#live")).to_have_text("live")
        await assert_page_shows(page, report)
        marked = "(div) => { window.notReloaded = true; div.drawnBefore = true; }"
        await page.locator('[data-figure="channels-chart"]').evaluate(marked)

        await publish(publisher, PAYMENT_COMPLETED, payment_completed(cid, amount="1000.00"), cid)
        expected = Decimal(report["totals"]["gross"]["amount"]) + Decimal("1000.00")
        await expect(page.locator('[data-figure="gross"]')).to_have_text(
            f"{expected:,} USD", timeout=10_000
        )
        await evaluated(http, cid)
        await expect(page.locator('[data-figure="cycles"]')).to_have_text("3", timeout=10_000)
        await publish(publisher, CAMPAIGN_REALLOCATED, reallocation(cid, 2), cid)
        await expect(page.locator('[data-figure="rationale"]')).to_have_text(
            RATIONALES[2], timeout=10_000
        )
        after = await report_once(http, cid, settled(completed=13, cycles=3, reallocations=3))
        await assert_page_shows(page, after)
        assert await page.evaluate("window.notReloaded === true")
        drawn = page.locator('[data-figure="channels-chart"]')
        assert await drawn.evaluate("(div) => div.drawnBefore === true")  # updated in place
        if target := os.environ.get("DASHBOARD_SCREENSHOT"):
            await page.screenshot(path=target, full_page=True)

        await page.click("header a")
        await expect(page.locator(f'[data-figure="campaigns"] a[href$="/{cid}"]')).to_be_visible()
        await page.click("text=Log out")
        await expect(page).to_have_url(f"{base}/dashboard/login")
        await page.goto(f"{base}/dashboard/campaigns/{cid}")
        await expect(page).to_have_url(f"{base}/dashboard/login?next=/dashboard/campaigns/{cid}")
        await page.close()

    assert errors == []


def settled(completed: int, cycles: int, reallocations: int) -> Any:
    def ready(r: Report) -> bool:
        optimisation = r["optimisation"] or {}
        return (
            r["totals"]["payments_completed"] == completed
            and r["totals"]["payments_failed"] == 1
            and r["launch"] is not None
            and r["awaiting_attribution"] == 0
            and optimisation.get("cycles") == cycles
            and len(optimisation.get("reallocations", [])) == reallocations
            and len(optimisation.get("adjustments", [])) == 2
        )

    return ready


async def test_the_dashboard_is_never_open_without_a_reports_key(infra, browser: Browser):
    settings = settings_for(AnalyticsSettings, infra)
    base = f"http://127.0.0.1:{settings.analytics_api_port}"
    async with running(build, settings), httpx.AsyncClient(base_url=base) as anonymous:
        page = await browser.new_page()
        errors = watch_for_errors(page)
        await page.goto(f"{base}/dashboard")
        await expect(page).to_have_url(f"{base}/dashboard/login?next=/dashboard")

        await log_in(page, base, "/dashboard/login", "not-a-key-of-ours-at-all")
        await expect(page.locator(".error")).to_have_text("That key is not valid.")
        assert await page.context.cookies() == []
        await page.goto(f"{base}/dashboard")
        await expect(page).to_have_url(f"{base}/dashboard/login?next=/dashboard")
        await page.close()

        stream = await anonymous.get("/dashboard/campaigns/any/events")
        forged = await anonymous.get(
            "/dashboard", headers={"Cookie": "dashboard_session=eyJrZXkiOiJ4In0.forged"}
        )
        wrong = await anonymous.get(
            "/dashboard", headers={"Authorization": "Bearer not-a-key-of-ours-at-all"}
        )
        bearer = await anonymous.get(
            "/dashboard", headers={"Authorization": f"Bearer {DEV_ONLY_ANALYTICS_API_KEY}"}
        )

    assert stream.status_code == 401
    assert (forged.status_code, forged.headers["location"]) == (
        303, "/dashboard/login?next=/dashboard",
    )  # fmt: skip
    assert wrong.status_code == 401
    assert bearer.status_code == 200
    # A failed login's refusal is in the page; the browser itself logs the 401 response.
    assert [e for e in errors if "401" not in e] == []
