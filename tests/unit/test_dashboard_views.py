"""The dashboard's view of a report: each figure and chart shows the report's own values,
the optimisation section once a cycle ran, text escaped; and its login sessions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.analytics.dashboard.page_model import Section
from services.analytics.dashboard.pages import campaign_page, charts_json
from services.analytics.dashboard.panels import campaign_sections
from services.analytics.dashboard.sessions import SessionCookies
from services.analytics.settings import AnalyticsSettings
from shared.events.optimisation import (
    AdSetAdjusted,
    ArmFigures,
    CampaignEvaluated,
    CampaignReallocated,
    ChannelFigures,
    ExperimentVerdict,
    UpliftFigures,
    VariantFigures,
)
from tests.support.factories import money

type Json = dict[str, Any]
AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def breakdown_row(key: str, net: str, spend: str) -> Json:
    return {
        "key": key, "recipients": 10, "impressions": 0, "clicks": 2, "conversions": 1,
        "conversion_rate": 0.1, "gross": money(net), "fees": money("0.00"), "net": money(net),
        "spend": money(spend), "roi": None,
    }  # fmt: skip


def report_json(**overrides: Any) -> Json:
    """A report as GET /v1/campaigns/{id}/report answers it, with the fields the page reads."""
    report: Json = {
        "campaign_id": "spring", "name": "Spring sale",
        "totals": {
            "gross": money("50149.99"), "fees": money("4.65"), "net": money("50145.34"),
            "payments_completed": 2, "payments_failed": 1, "refunded": money("0.00"),
            "payments_refunded": 0, "success_rate": 2 / 3, "average_transaction": money("1.00"),
            "processor_mix": [{"processor": "stripe", "count": 2, "gross": money("50149.99")}],
        },
        "spend": money("50000.0124"), "ai_cost": "0.0124", "actual_roi": 0.0029,
        "conversion_rate": 0.001,
        "funnel": [{"channel": "email", "emailed": 6, "delivered": 5, "impressions": None,
                    "clicked": 2, "paid": 1}],
        "breakdowns": {
            "channels": [breakdown_row("email", "145.34", "20000.00")],
            "segments": [breakdown_row("high_value", "145.34", "20000.00")],
            "variants": [breakdown_row("", "145.34", "20000.00")],
        },
        "processors": [{"processor": "stripe", "completed": 2, "failed": 1,
                        "success_rate": 2 / 3, "fees": money("4.65"),
                        "mean_latency_seconds": None}],
    }  # fmt: skip
    return report | overrides


def uplift(mean: float, low: float, high: float) -> UpliftFigures:
    return UpliftFigures(
        mean=mean, low=low, high=high, chance_to_win=0.97, risk_of_shipping=0.0004,
        risk_of_keeping=0.02,
    )  # fmt: skip


def optimisation_json() -> Json:
    verdict = ExperimentVerdict(
        segment_id="high_value", channel="email", control="a",
        variants=[VariantFigures(variant_id="a"),
                  VariantFigures(variant_id="b", conversion=uplift(0.25, 0.05, 0.5))],
        srm_p_value=0.4, sample_ratio_mismatch=False, winner="b",
        reason="b beats a with expected loss 0.0004 under 0.005", weights={"a": 0.0, "b": 1.0},
    )  # fmt: skip
    evaluated = CampaignEvaluated(
        campaign_id="spring", cycle=1, as_of=AT,
        arms=[ArmFigures(segment_id="high_value", channel="email", variant_id="b",
                         exposures=100, conversions=9, net=money("900.00"))],
        experiments=[verdict],
        channels=[ChannelFigures(channel="email", spend=money("100.00"), net=money("900.00"),
                                 conversions=9, clicks=30)],
    )  # fmt: skip
    reallocated = CampaignReallocated(
        campaign_id="spring", cycle=1, as_of=AT, engine="offline",
        previous={"email": money("20000.00"), "social": money("30000.00")},
        allocation={"email": money("26000.00"), "social": money("24000.00")},
        spent={"email": money("100.00"), "social": money("900.00")},
        remaining=money("49000.00"), reasons=["email earns 9.00 per dollar, social 0.50"],
        rationale="Email returns 9.00 per dollar spent; 6,000.00 moves to it from social.",
    )  # fmt: skip
    adjusted = AdSetAdjusted(
        campaign_id="spring", ad_set_id="as-1", channel="social", segment_id="high_value",
        variant_id="b", bid_before=money("9.00"), bid=money("7.50"),
        budget_before=money("1000.00"), budget=money("800.00"), controller="target_cpa",
        reason="cost per acquisition 42.00 above target 30.00", at=AT,
    )  # fmt: skip
    return {
        "cycles": 2,
        "latest": evaluated.model_dump(mode="json"),
        "weights_history": [
            {
                "cycle": 0,
                "as_of": AT.isoformat(),
                "segment_id": "high_value",
                "channel": "email",
                "weights": {"a": 0.5, "b": 0.5},
            },
            {
                "cycle": 1,
                "as_of": AT.isoformat(),
                "segment_id": "high_value",
                "channel": "email",
                "weights": {"a": 0.0, "b": 1.0},
            },
        ],
        "reallocations": [reallocated.model_dump(mode="json")],
        "adjustments": [adjusted.model_dump(mode="json")],
    }


def named(sections: list[Section]) -> tuple[dict[str, str], dict[str, Json], dict[str, Any]]:
    figures = {f.name: f.text for s in sections for f in s.figures}
    charts = {c.name: c.figure for s in sections for c in s.charts}
    tables = {t.name: t for s in sections for t in s.tables}
    return figures, charts, tables


def test_money_figures_show_the_reports_totals_spend_roi_and_ai_cost() -> None:
    figures, _, _ = named(campaign_sections(report_json()))

    assert figures["gross"] == "50,149.99 USD"
    assert figures["net"] == "50,145.34 USD"
    assert figures["spend"] == "50,000.0124 USD"
    assert figures["roi"] == "0.3%"
    assert figures["ai-cost"] == "0.0124 USD"
    assert figures["success-rate"] == "66.7%"


def test_charts_plot_the_reports_amounts_as_decimal_strings_never_floats() -> None:
    _, charts, _ = named(campaign_sections(report_json()))

    net, spend = charts["channels-chart"]["data"]
    assert (net["x"], net["y"], spend["y"]) == (["email"], ["145.34"], ["20000.00"])
    assert charts["processor-mix"]["data"][0]["values"] == ["50149.99"]
    assert charts["variants-chart"]["data"][0]["x"] == ["(none)"]


def test_no_optimisation_section_before_the_first_cycle() -> None:
    names = [s.name for s in campaign_sections(report_json(optimisation=None))]

    assert not {"experiments", "weights", "allocation", "bidding", "decisions"} & set(names)


def test_optimisation_shows_verdicts_weights_allocation_bids_and_the_rationale() -> None:
    sections = campaign_sections(report_json(optimisation=optimisation_json()))
    figures, charts, tables = named(sections)

    [control, challenger] = tables["verdicts"].rows
    assert challenger[:4] == ["high_value · email", "b", "+25.0% [+5.0%, +50.0%]", "97.0%"]
    assert (challenger[7], control[1]) == ("b", "a (control)")
    [point] = charts["uplift"]["data"]
    assert (point["y"], point["error_y"]["array"], point["error_y"]["arrayminus"]) == (
        [0.25], [0.25], [0.2],
    )  # fmt: skip
    weights = {trace["name"]: trace["y"] for trace in charts["weights"]["data"]}
    assert weights == {"high_value · email · a": [0.5, 0.0], "high_value · email · b": [0.5, 1.0]}
    allocation = {t["name"]: (t["x"], t["y"]) for t in charts["allocation-chart"]["data"]}
    assert allocation["email"] == (["planned", "cycle 1"], ["20000.00", "26000.00"])
    assert figures["remaining"] == "49,000.00 USD"
    assert charts["bids"]["data"][0]["y"] == ["9.00", "7.50"]
    [adjustment] = tables["adjustments"].rows
    assert adjustment[4:] == [
        "9.00 USD → 7.50 USD", "1,000.00 USD → 800.00 USD",
        "cost per acquisition 42.00 above target 30.00",
    ]  # fmt: skip
    [decisions] = [s for s in sections if s.name == "decisions"]
    assert decisions.notes == [
        "Email returns 9.00 per dollar spent; 6,000.00 moves to it from social."
    ]
    assert figures["cycles"] == "2"


def test_each_ad_sets_bid_line_starts_at_its_bid_before_the_first_change_and_holds_between():
    optimisation = optimisation_json()
    _, charts, tables = named(campaign_sections(report_json(optimisation=optimisation)))

    [bids] = charts["bids"]["data"]
    at = optimisation["adjustments"][0]["at"]
    assert (bids["x"], bids["y"]) == ([at, at], ["9.00", "7.50"])  # not one lone dot
    assert bids["line"]["shape"] == "hv"  # a bid holds until the next change
    assert tables["adjustments"].rows[0][0] == "2026-12-01 10:00:00 UTC"


def test_the_weights_chart_counts_whole_cycles_and_shows_shares_as_percentages() -> None:
    _, charts, _ = named(campaign_sections(report_json(optimisation=optimisation_json())))

    layout = charts["weights"]["layout"]
    assert layout["xaxis"]["dtick"] == 1  # no cycle 0.5 on the axis
    low, high = layout["yaxis"]["range"]
    assert (layout["yaxis"]["tickformat"], low <= 0, high >= 1) == (".0%", True, True)


def test_the_page_escapes_the_reports_text_and_no_script_can_close_the_figures_block() -> None:
    report = report_json(name="<script>alert(1)</script>")
    report["breakdowns"]["segments"][0]["key"] = "</script><script>alert(2)</script>"
    sections = campaign_sections(report)

    html = campaign_page("spring", report["name"], sections)

    assert "<script>alert" not in html
    assert "</script><script>" not in charts_json(sections)
    assert json.loads(charts_json(sections))["segments-chart"]["data"][0]["x"] == [
        "</script><script>alert(2)</script>"
    ]


def test_a_session_cookie_holds_until_it_expires_and_only_as_signed() -> None:
    cookies = SessionCookies("s" * 32, timedelta(hours=1))
    value = cookies.issue("reporting-board", AT)

    assert cookies.check(value, AT + timedelta(minutes=59)).key_name == "reporting-board"
    assert cookies.check(value, AT + timedelta(hours=1)) is None
    payload, _, signature = value.partition(".")
    assert cookies.check(f"{payload}x.{signature}", AT) is None
    assert SessionCookies("t" * 32, timedelta(hours=1)).check(value, AT) is None
    assert cookies.check("garbage", AT) is None


def test_production_refuses_the_dev_only_session_secret() -> None:
    with pytest.raises(ValidationError, match="DASHBOARD_SESSION_SECRET must be set"):
        AnalyticsSettings(environment="production", analytics_api_key="k" * 32)
