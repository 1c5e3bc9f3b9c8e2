"""The report's journey sections as rich tables: the funnel, the breakdowns per channel,
segment and variant, the attribution models side by side, the lift over the holdout, and
the processors.

Like the rest of the report view it renders defensively: a section not there yet (an older
analytics, a campaign with no launch) renders empty, never an error. Amounts in the wide
tables are shown without their currency, which the table's title names once.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from shared.cli.report_format import MISSING, amount_text, count_text, percent_text

type Report = dict[str, Any]

MODELS = (
    ("last_touch", "Last touch"),
    ("first_touch", "First touch"),
    ("linear", "Linear"),
    ("time_decay", "Time decay"),
    ("position_based", "Position 40/20/40"),
    ("markov", "Markov"),
)


def table(title: str, *columns: str) -> Table:
    """Columns named ``>Name`` are right-aligned: they hold numbers."""
    shown = Table(title=title, title_justify="left")
    for column in columns:
        shown.add_column(column.lstrip(">"), justify="right" if column.startswith(">") else "left")
    return shown


def amount(money: Any) -> str:
    return amount_text(money.get("amount")) if isinstance(money, dict) else MISSING


def currency_of(*found: Any) -> str:
    for money in found:
        if isinstance(money, dict) and money.get("currency"):
            return f" ({money['currency']})"
    return ""


def funnel_table(report: Report) -> Table:
    shown = table(
        "Funnel: sent → delivered → clicked → paid",
        "Channel", ">Emailed", ">Delivered", ">Impressions", ">Clicked", ">Paid",
    )  # fmt: skip
    for stage in report.get("funnel") or []:
        shown.add_row(
            str(stage.get("channel")),
            count_text(stage.get("emailed")),
            count_text(stage.get("delivered")),
            count_text(stage.get("impressions")),
            count_text(stage.get("clicked")),
            count_text(stage.get("paid")),
        )
    return shown


def breakdown_table(report: Report, part: str, title: str) -> Table:
    breakdowns = report.get("breakdowns") or {}
    rows = breakdowns.get(part) or []
    unit = currency_of(*(row.get("net") for row in rows))
    shown = table(
        f"{title}{unit}", title.split()[-1].capitalize(), ">Emailed", ">Impressions",
        ">Clicks", ">Conv.", ">Conv. rate", ">Gross", ">Fees", ">Net", ">Spend", ">ROI",
    )  # fmt: skip
    for row in rows:
        shown.add_row(
            str(row.get("key") or MISSING),
            count_text(row.get("recipients")),
            count_text(row.get("impressions")),
            count_text(row.get("clicks")),
            count_text(row.get("conversions")),
            percent_text(row.get("conversion_rate"), places=2),
            amount(row.get("gross")),
            amount(row.get("fees")),
            amount(row.get("net")),
            amount(row.get("spend")),
            percent_text(row.get("roi")),
        )
    organic = breakdowns.get("unattributed")
    if part == "channels" and organic:
        shown.add_section()
        shown.add_row(
            "[dim]organic (unattributed)[/]", "", "", "", count_text(organic.get("payments")),
            "", amount(organic.get("gross")), amount(organic.get("fees")),
            amount(organic.get("net")), "", "",
        )  # fmt: skip
    return shown


def models_table(report: Report, part: str, title: str) -> Table:
    models = report.get("attribution_models") or {}
    total = models.get("attributed_net")
    shown = table(f"{title}{currency_of(total)}", "Key", *(f">{name}" for _, name in MODELS))
    for row in models.get(part) or []:
        shown.add_row(str(row.get("key")), *(amount(row.get(model)) for model, _ in MODELS))
    if total is not None:
        shown.add_section()
        shown.add_row("[bold]Attributed net[/]", *[amount(total)] * len(MODELS))
    return shown


def signed_points(rate: Any) -> str:
    return MISSING if rate is None else f"{float(rate) * 100:+.1f} pts"


def signed_percent(rate: Any) -> str:
    return MISSING if rate is None else f"{float(rate) * 100:+.1f}%"


def lift_section(report: Report) -> Group:
    """The two groups, and the lift with its intervals on one line beneath."""
    lift = report.get("lift")
    shown = table("Incremental lift over the holdout", "Group", ">People", ">Converted", ">Rate")
    if not lift:
        return Group(shown, Text("no one both emailed and held out yet", style="dim"))
    for name, group in (("Emailed", lift.get("treated")), ("Held out", lift.get("held_out"))):
        group = group or {}
        shown.add_row(
            name,
            count_text(group.get("people")),
            count_text(group.get("converted")),
            percent_text(group.get("conversion_rate"), places=2),
        )
    return Group(shown, Text(lift_line(lift)))


def lift_line(lift: Report) -> str:
    absolute = lift.get("absolute_interval") or {}
    confidence = percent_text(lift.get("confidence"), places=0)
    line = (
        f"Lift {signed_points(lift.get('absolute_lift'))}, {confidence} interval "
        f"{signed_points(absolute.get('low'))} to {signed_points(absolute.get('high'))}"
    )
    if lift.get("relative_lift") is not None:
        line += f"; relative {signed_percent(lift['relative_lift'])}"
        if relative := lift.get("relative_interval"):
            low, high = relative.get("low"), relative.get("high")
            line += f" ({signed_percent(low)} to {signed_percent(high)})"
    return line


def processors_table(report: Report) -> Table:
    rows = report.get("processors") or []
    shown = table(
        f"Processors{currency_of(*(row.get('fees') for row in rows))}",
        "Processor", ">Completed", ">Failed", ">Success", ">Fees", ">Mean latency",
    )  # fmt: skip
    for row in rows:
        latency = row.get("mean_latency_seconds")
        shown.add_row(
            str(row.get("processor")),
            count_text(row.get("completed")),
            count_text(row.get("failed")),
            percent_text(row.get("success_rate")),
            amount(row.get("fees")),
            MISSING if latency is None else f"{latency:.2f} s",
        )
    return shown


def journey_tables(report: Report) -> list[RenderableType]:
    """Every section, in reading order; none for a report from before the journey."""
    if "funnel" not in report:
        return []
    return [
        funnel_table(report),
        breakdown_table(report, "channels", "By channel"),
        breakdown_table(report, "segments", "By segment"),
        breakdown_table(report, "variants", "By variant"),
        models_table(report, "channels", "Attribution models by channel"),
        models_table(report, "variants", "Attribution models by variant"),
        lift_section(report),
        processors_table(report),
    ]
