"""The report's sections as the page shows them: the money, the funnel, the breakdowns per
channel, segment and variant, and the processors. Built from the report's JSON, exactly as
``GET /v1/campaigns/{id}/report`` answers it; nothing is recomputed here."""

from __future__ import annotations

from services.analytics.dashboard import charts
from services.analytics.dashboard.optimisation_panels import optimisation_sections
from services.analytics.dashboard.page_model import (
    Chart,
    Figure,
    Json,
    Section,
    Table,
    amount,
    count_text,
    money_text,
    percent_text,
)

BREAKDOWN_COLUMNS = [
    "recipients", "impressions", "clicks", "conversions", "conversion rate",
    "gross", "fees", "net", "spend", "ROI",
]  # fmt: skip


def campaign_sections(report: Json) -> list[Section]:
    sections = [money_section(report), funnel_section(report["funnel"])]
    sections += [breakdown_section(report["breakdowns"], d) for d in BREAKDOWNS]
    sections.append(processor_section(report))
    return sections + optimisation_sections(report.get("optimisation"))


def money_section(report: Json) -> Section:
    totals = report["totals"]
    return Section(
        "money",
        "Revenue and cost",
        figures=[
            Figure("gross", "Revenue", money_text(totals["gross"])),
            Figure("net", "Net", money_text(totals["net"])),
            Figure("spend", "Spend", money_text(report["spend"])),
            Figure("roi", "ROI", percent_text(report["actual_roi"])),
            Figure(
                "ai-cost", "AI cost", money_text({"amount": report["ai_cost"], "currency": "USD"})
            ),
            Figure("payments", "Payments", count_text(totals["payments_completed"])),
            Figure("refunded", "Refunded", money_text(totals["refunded"])),
            Figure("conversion-rate", "Conversion", percent_text(report["conversion_rate"])),
        ],
    )


def funnel_section(funnel: list[Json]) -> Section:
    stages = ["emailed", "delivered", "impressions", "clicked", "paid"]
    rows = [[stage["channel"], *(count_text(stage[s]) for s in stages)] for stage in funnel]
    series = {stage["channel"]: [stage[s] for s in stages] for stage in funnel}
    return Section(
        "funnel",
        "Funnel",
        charts=[
            Chart(
                "funnel-chart",
                charts.bars("People and impressions (log scale)", stages, series, type="log"),
            )
        ],
        tables=[Table("funnel", "Funnel", ["channel", *stages], rows)],
    )


BREAKDOWNS = [("channels", "Per channel"), ("segments", "Per segment"), ("variants", "Per variant")]


def breakdown_section(breakdowns: Json, dimension: tuple[str, str]) -> Section:
    name, title = dimension
    found = breakdowns[name]
    keys = [row["key"] or "(none)" for row in found]
    rows = [[key, *breakdown_cells(row)] for key, row in zip(keys, found, strict=True)]
    series = {
        "net": [amount(row["net"]) for row in found],
        "spend": [amount(row["spend"]) for row in found],
    }
    return Section(
        name,
        title,
        charts=[Chart(f"{name}-chart", charts.bars(f"{title}: net and spend", keys, series))],
        tables=[Table(name, title, [name.removesuffix("s"), *BREAKDOWN_COLUMNS], rows)],
    )


def breakdown_cells(row: Json) -> list[str]:
    return [
        count_text(row["recipients"]),
        count_text(row["impressions"]),
        count_text(row["clicks"]),
        count_text(row["conversions"]),
        percent_text(row["conversion_rate"]),
        money_text(row["gross"]),
        money_text(row["fees"]),
        money_text(row["net"]),
        money_text(row["spend"]),
        percent_text(row["roi"]),
    ]


def processor_section(report: Json) -> Section:
    mix = report["totals"]["processor_mix"]
    processors = report["processors"]
    rows = [
        [
            p["processor"],
            count_text(p["completed"]),
            count_text(p["failed"]),
            percent_text(p["success_rate"]),
            money_text(p["fees"]),
            "—" if p["mean_latency_seconds"] is None else f"{p['mean_latency_seconds']:.2f} s",
        ]
        for p in processors
    ]
    return Section(
        "processors",
        "Processors",
        figures=[
            Figure("success-rate", "Success rate", percent_text(report["totals"]["success_rate"]))
        ],
        charts=[
            Chart(
                "processor-mix",
                charts.pie(
                    "Mix (gross)",
                    [share["processor"] for share in mix],
                    [amount(share["gross"]) for share in mix],
                ),
            ),
            Chart(
                "processor-success",
                charts.bars(
                    "Success rate",
                    [p["processor"] for p in processors],
                    {"success rate": [p["success_rate"] for p in processors]},
                    tickformat=".0%",
                    range=[0, 1],
                ),
            ),
        ],
        tables=[
            Table(
                "processor-table",
                "Per processor",
                ["processor", "completed", "failed", "success rate", "fees", "mean latency"],
                rows,
            )
        ],
    )
