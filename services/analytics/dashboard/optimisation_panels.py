"""The report's ``optimisation`` section as the page shows it, once the first cycle ran: the
A/B verdicts with their intervals, the traffic weights and the budget allocation over the
cycles, the bid and pacing changes, and the latest decisions with their reasons."""

from __future__ import annotations

from services.analytics.dashboard import charts
from services.analytics.dashboard.page_model import (
    NOTHING,
    Chart,
    Figure,
    Json,
    Section,
    Table,
    amount,
    count_text,
    money_text,
    percent_text,
    time_text,
)

LATEST_ADJUSTMENTS = 10


def optimisation_sections(optimisation: Json | None) -> list[Section]:
    if not optimisation:
        return []
    return [
        verdicts_section(optimisation),
        weights_section(optimisation["weights_history"]),
        allocation_section(optimisation["reallocations"]),
        bidding_section(optimisation["adjustments"]),
        decisions_section(optimisation),
    ]


def verdicts_section(optimisation: Json) -> Section:
    latest = optimisation["latest"]
    rows, labels, means, lows, highs = [], [], [], [], []
    for verdict in latest["experiments"]:
        test = f"{verdict['segment_id']} · {verdict['channel']}"
        for variant in verdict["variants"]:
            uplift = variant.get("conversion")
            rows.append([
                test,
                variant_label(variant["variant_id"], verdict["control"]),
                uplift_text(uplift),
                percent_text(uplift["chance_to_win"]) if uplift else NOTHING,
                f"{uplift['risk_of_shipping']:.4f}" if uplift else NOTHING,
                uplift_text(variant.get("revenue")),
                percent_text(verdict["weights"].get(variant["variant_id"])),
                verdict["winner"] or NOTHING,
                "frozen: sample ratio mismatch" if verdict["sample_ratio_mismatch"] else "ok",
            ])  # fmt: skip
            if uplift:
                labels.append(f"{test} · {variant['variant_id']}")
                means.append(uplift["mean"])
                lows.append(uplift["low"])
                highs.append(uplift["high"])
    columns = [
        "test", "variant", "conversion uplift [95% interval]", "chance to win", "expected loss",
        "revenue uplift [95% interval]", "next weight", "winner", "split",
    ]  # fmt: skip
    return Section(
        "experiments",
        "A/B verdicts",
        figures=[Figure("cycles", "Optimisation cycles", count_text(optimisation["cycles"]))],
        charts=[
            Chart(
                "uplift",
                charts.intervals("Conversion uplift over control", labels, means, lows, highs),
            )
        ],
        tables=[Table("verdicts", "Verdicts, latest cycle", columns, rows)],
    )


def variant_label(variant_id: str, control: str) -> str:
    return f"{variant_id} (control)" if variant_id == control else variant_id


def uplift_text(uplift: Json | None) -> str:
    if not uplift:
        return NOTHING
    return f"{uplift['mean']:+.1%} [{uplift['low']:+.1%}, {uplift['high']:+.1%}]"


def weights_section(history: list[Json]) -> Section:
    series: dict[str, tuple[list[str | int], list[str | int | float | None]]] = {}
    for point in history:
        for variant, weight in point["weights"].items():
            xs, ys = series.setdefault(
                f"{point['segment_id']} · {point['channel']} · {variant}", ([], [])
            )
            xs.append(point["cycle"])
            ys.append(weight)
    return Section(
        "weights",
        "Traffic weights over time",
        charts=[
            Chart(
                "weights",
                charts.lines(
                    "Share of the next wave, per cycle",
                    series,
                    xaxis={"dtick": 1},
                    # A little past 0 and 1, so a loser's and a winner's markers show whole.
                    yaxis={"tickformat": ".0%", "range": [-0.05, 1.05]},
                ),
            )
        ],
    )


def allocation_section(reallocations: list[Json]) -> Section:
    series: dict[str, tuple[list[str | int], list[str | int | float | None]]] = {}
    for index, change in enumerate(reallocations):
        for channel, money in change["allocation"].items():
            xs, ys = series.setdefault(channel, ([], []))
            if index == 0 and channel in change["previous"]:
                xs.append("planned")
                ys.append(amount(change["previous"][channel]))
            xs.append(f"cycle {change['cycle']}")
            ys.append(amount(money))
    latest: Json = reallocations[-1] if reallocations else {}
    rows = [
        [channel, money_text(latest["previous"].get(channel)), money_text(money),
         money_text(latest["spent"].get(channel))]
        for channel, money in latest.get("allocation", {}).items()
    ]  # fmt: skip
    columns = ["channel", "before", "after", "spent"]
    return Section(
        "allocation",
        "Budget allocation over time",
        figures=[Figure("remaining", "Budget left", money_text(latest.get("remaining")))],
        charts=[Chart("allocation-chart", charts.lines("Allocation per channel", series))],
        tables=[Table("allocation", "Latest reallocation", columns, rows)],
    )


def bidding_section(adjustments: list[Json]) -> Section:
    series: dict[str, tuple[list[str | int], list[str | int | float | None]]] = {}
    for change in adjustments:
        name = f"{change['channel']} · {change['ad_set_id']}"
        if name not in series:  # the line starts from the bid the first change moved
            series[name] = ([change["at"]], [amount(change["bid_before"])])
        xs, ys = series[name]
        xs.append(change["at"])
        ys.append(amount(change["bid"]))
    rows = [
        [time_text(change["at"]), change["ad_set_id"], change["channel"], change["controller"],
         f"{money_text(change['bid_before'])} → {money_text(change['bid'])}",
         f"{money_text(change['budget_before'])} → {money_text(change['budget'])}",
         change["reason"]]
        for change in reversed(adjustments[-LATEST_ADJUSTMENTS:])
    ]  # fmt: skip
    columns = ["at", "ad set", "channel", "controller", "bid", "budget", "reason"]
    return Section(
        "bidding",
        "Bids and pacing",
        charts=[Chart("bids", charts.lines("Bid per ad set", series, shape="hv"))],
        tables=[Table("adjustments", "Latest bid and budget changes", columns, rows)],
    )


def decisions_section(optimisation: Json) -> Section:
    latest = optimisation["latest"]
    rows = [
        [f"cycle {latest['cycle']}", f"A/B {v['segment_id']} · {v['channel']}", v["reason"]]
        for v in latest["experiments"]
    ]
    notes = []
    if optimisation["reallocations"]:
        change = optimisation["reallocations"][-1]
        engine = change.get("engine") or "planner"
        rows.append(
            [f"cycle {change['cycle']}", f"reallocation ({engine})", "; ".join(change["reasons"])]
        )
        notes.append(change["rationale"])
    return Section(
        "decisions",
        "Latest decisions",
        tables=[Table("decision-table", "Latest decisions", ["when", "decision", "why"], rows)],
        notes=notes,
    )
