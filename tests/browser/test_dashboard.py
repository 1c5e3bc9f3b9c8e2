"""The dashboard in a real browser: log in through the form, see the campaign page drawn from
the report API's figures without a console error, and watch a payment made meanwhile appear
on the open page. Set DASHBOARD_SCREENSHOT=<path> to keep a picture of the page
(`make screenshot` writes docs/images/dashboard.png)."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from services.analytics.app import build
from services.analytics.settings import AnalyticsSettings
from shared.events.topics import (
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
)
from shared.settings import DEV_ONLY_ANALYTICS_API_KEY
from tests.integration.test_analytics import api, publish, report_once
from tests.integration.test_analytics_journeys import engaged
from tests.integration.test_analytics_report import engagement, payments
from tests.support.factories import (
    campaign_id,
    campaign_launched_with_ads,
    campaign_planned,
    payment_completed,
    payment_failed,
)
from tests.support.services import running, settings_for

type Report = dict[str, Any]


def money_text(money: dict[str, str]) -> str:
    return f"{Decimal(money['amount']):,} {money['currency']}"


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


async def chart(page: Page, name: str, field: str) -> list[list[Any]]:
    """Each trace's ``field`` as plotly.js holds it on the drawn chart."""
    script = f"(div) => div.data.map((trace) => trace[{field!r}])"
    return await page.locator(f'[data-chart][data-figure="{name}"]').evaluate(script)


async def assert_page_shows(page: Page, report: Report) -> None:
    totals = report["totals"]
    figures = {
        "gross": money_text(totals["gross"]),
        "net": money_text(totals["net"]),
        "spend": money_text(report["spend"]),
        "roi": f"{report['actual_roi']:.1%}",
        "ai-cost": f"{Decimal(report['ai_cost']):,} USD",
        "payments": str(totals["payments_completed"]),
        "success-rate": f"{totals['success_rate']:.1%}",
    }
    for name, text in figures.items():
        await expect(page.locator(f'[data-figure="{name}"]')).to_have_text(text)
    for dimension in ("channels", "segments", "variants"):
        rows = report["breakdowns"][dimension]
        assert await chart(page, f"{dimension}-chart", "y") == [
            [row["net"]["amount"] for row in rows],
            [row["spend"]["amount"] for row in rows],
        ]
    mix = totals["processor_mix"]
    assert await chart(page, "processor-mix", "values") == [[s["gross"]["amount"] for s in mix]]
    assert await chart(page, "processor-success", "y") == [
        [p["success_rate"] for p in report["processors"]]
    ]
    funnel = page.locator('[data-figure="funnel"] tbody tr td:first-child')
    await expect(funnel).to_have_text([stage["channel"] for stage in report["funnel"]])


async def test_the_campaign_page_shows_the_report_and_a_new_payment_without_a_reload(
    infra, publisher, browser: Browser
):
    cid = campaign_id()
    clicks, touches = engagement(cid)
    settings = settings_for(AnalyticsSettings, infra)
    base = f"http://127.0.0.1:{settings.analytics_api_port}"
    async with running(build, settings) as service, api(settings) as http:
        await publish(publisher, CAMPAIGN_PLANNED, campaign_planned(cid), cid)
        await publish(publisher, CAMPAIGN_LAUNCHED, campaign_launched_with_ads(cid), cid)
        await engaged(service, publisher, cid, *touches)
        for payment in payments(cid, clicks).values():
            await publish(publisher, PAYMENT_COMPLETED, payment, cid)
        await publish(publisher, PAYMENT_FAILED, payment_failed(cid), cid)
        report = await report_once(http, cid, settled(completed=5))

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
        after = await report_once(http, cid, settled(completed=6))
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


def settled(completed: int) -> Any:
    return lambda r: (
        r["totals"]["payments_completed"] == completed
        and r["totals"]["payments_failed"] == 1
        and r["launch"] is not None
        and r["awaiting_attribution"] == 0
    )


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
