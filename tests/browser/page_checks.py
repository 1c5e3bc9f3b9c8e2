"""What an open campaign page must show, read from the report API's own answer: its figures
and tables as text, its charts as the values plotly.js holds on the drawn chart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from playwright.async_api import Page, expect

type Report = dict[str, Any]
type Json = dict[str, Any]


def money_text(money: Json) -> str:
    return f"{Decimal(money['amount']):,} {money['currency']}"


async def chart(page: Page, name: str, field: str) -> list[list[Any]]:
    """Each trace's ``field`` as plotly.js holds it on the drawn chart."""
    script = f"(div) => div.data.map((trace) => trace[{field!r}])"
    return await page.locator(f'[data-chart][data-figure="{name}"]').evaluate(script)


async def traces(page: Page, name: str) -> dict[str, tuple[list[Any], list[Any]]]:
    """Each named trace's x and y, as plotly.js holds them on the drawn chart."""
    script = "(div) => div.data.map((trace) => [trace.name, trace.x, trace.y])"
    drawn = await page.locator(f'[data-chart][data-figure="{name}"]').evaluate(script)
    return {trace_name: (x, y) for trace_name, x, y in drawn}


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
    if report["optimisation"] is not None:
        await assert_optimisation_shows(page, report["optimisation"])


def percent(rate: float) -> str:
    return f"{rate:.1%}"


def interval(uplift: Json) -> str:
    return f"{uplift['mean']:+.1%} [{uplift['low']:+.1%}, {uplift['high']:+.1%}]"


async def assert_optimisation_shows(page: Page, optimisation: Json) -> None:
    latest = optimisation["latest"]
    await expect(page.locator('[data-figure="cycles"]')).to_have_text(str(optimisation["cycles"]))
    verdicts = [
        (verdict, variant) for verdict in latest["experiments"] for variant in verdict["variants"]
    ]
    # variant, conversion uplift [interval], chance to win, revenue uplift, next weight, winner
    rows = page.locator('[data-figure="verdicts"] tbody tr')
    await expect(rows).to_have_count(len(verdicts))
    for row, (verdict, variant) in zip(await rows.all(), verdicts, strict=True):
        conversion, revenue = variant["conversion"], variant["revenue"]
        cells = row.locator("td")
        await expect(cells.nth(1)).to_contain_text(variant["variant_id"])
        await expect(cells.nth(2)).to_have_text(interval(conversion) if conversion else "—")
        await expect(cells.nth(3)).to_have_text(
            percent(conversion["chance_to_win"]) if conversion else "—"
        )
        await expect(cells.nth(5)).to_have_text(interval(revenue) if revenue else "—")
        await expect(cells.nth(6)).to_have_text(percent(verdict["weights"][variant["variant_id"]]))
        await expect(cells.nth(7)).to_have_text(verdict["winner"] or "—")
    challengers = [variant["conversion"] for _, variant in verdicts if variant["conversion"]]
    [means, above, below] = [
        [u["mean"] for u in challengers],
        [u["high"] - u["mean"] for u in challengers],
        [u["mean"] - u["low"] for u in challengers],
    ]
    [uplift] = await page.locator('[data-figure="uplift"]').evaluate(
        "(div) => div.data.map((t) => [t.y, t.error_y.array, t.error_y.arrayminus])"
    )
    assert uplift == [means, above, below]

    weights: dict[str, tuple[list[Any], list[Any]]] = {}
    for point in optimisation["weights_history"]:
        for variant, weight in point["weights"].items():
            xs, ys = weights.setdefault(
                f"{point['segment_id']} · {point['channel']} · {variant}", ([], [])
            )
            xs.append(point["cycle"])
            ys.append(weight)
    assert await traces(page, "weights") == weights

    changes = optimisation["reallocations"]
    first = changes[0]
    allocation = {
        channel: (
            ["planned", *(f"cycle {c['cycle']}" for c in changes)],
            [
                first["previous"][channel]["amount"],
                *(c["allocation"][channel]["amount"] for c in changes),
            ],
        )
        for channel in first["allocation"]
    }
    assert await traces(page, "allocation-chart") == allocation
    await expect(page.locator('[data-figure="remaining"]')).to_have_text(
        money_text(changes[-1]["remaining"])
    )
    await expect(page.locator('[data-figure="rationale"]')).to_have_text(changes[-1]["rationale"])

    bids: dict[str, tuple[list[Any], list[Any]]] = {}
    for change in optimisation["adjustments"]:
        name = f"{change['channel']} · {change['ad_set_id']}"
        xs, ys = bids.setdefault(name, ([change["at"]], [change["bid_before"]["amount"]]))
        xs.append(change["at"])
        ys.append(change["bid"]["amount"])
    assert await traces(page, "bids") == bids
