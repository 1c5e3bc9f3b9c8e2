"""The campaign report, as rich tables: plan, audience, reach, payments and totals.

Reads the analytics API's JSON defensively: a part that is not there yet (a campaign
still being planned, no payments so far) is shown as missing, never an error.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from shared.cli.report_format import (
    MISSING,
    count_text,
    money_text,
    percent_text,
)

type Report = dict[str, Any]


def section(report: Report, *names: str) -> Report:
    """The first of ``names`` present as an object, else the report itself (a flat report)."""
    for name in names:
        if isinstance(found := report.get(name), dict):
            return found
    return report


def plan_table(report: Report) -> Table:
    plan = section(report, "plan", "campaign")
    budget = plan.get("budget") or report.get("budget")
    currency = budget.get("currency") if isinstance(budget, dict) else None
    table = Table(title="Plan", title_justify="left", show_header=True)
    table.add_column("Channel")
    table.add_column("Allocation", justify="right")
    for channel, amount in (plan.get("allocation") or {}).items():
        table.add_row(channel, money_text(amount, currency))
    table.add_section()
    table.add_row("[bold]Budget[/]", money_text(budget))
    table.add_row("Predicted revenue", money_text(plan.get("predicted_revenue")))
    table.add_row("Predicted ROI", percent_text(plan.get("predicted_roi")))
    return table


def segments_table(report: Report) -> Table:
    segments = report.get("segments") or section(report, "audience").get("segments") or []
    table = Table(title="Segments", title_justify="left")
    for column, justify in (("Segment", "left"), ("Size", "right"), ("Email opt-in", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("Predicted conversion", justify="right")
    for segment in segments:
        table.add_row(
            str(segment.get("name") or segment.get("segment_id")),
            count_text(segment.get("size")),
            count_text(segment.get("email_reachable")),
            percent_text(segment.get("predicted_conversion_rate"), places=2),
        )
    return table


def reach_table(report: Report) -> Table:
    launch = section(report, "launch")
    reach = launch.get("reach") if isinstance(launch.get("reach"), dict) else {}
    table = Table(title="Reach", title_justify="left")
    table.add_column("Channel")
    table.add_column("People reached", justify="right")
    for channel, count in (reach or {}).items():
        table.add_row(channel, count_text(count))
    table.add_section()
    table.add_row("[bold]Total[/]", count_text(launch.get("total_reach")))
    return table


def payments_table(report: Report) -> Table:
    table = Table(title="Payments", title_justify="left")
    for column in ("Payment", "Customer", "Method", "Processor", "Channel", "Status"):
        table.add_column(column, overflow="fold")
    for column in ("Amount", "Fee", "Net"):
        table.add_column(column, justify="right")
    for payment in report.get("payments") or []:
        status = str(payment.get("status"))
        reason = payment.get("failure_reason")
        shown = "[green]completed[/]" if status == "completed" else f"[red]{status}[/]"
        table.add_row(
            str(payment.get("payment_id") or payment.get("id")),
            str(payment.get("customer_id")),
            str(payment.get("payment_method")),
            str(payment.get("processor")),
            str((payment.get("attribution") or {}).get("channel") or MISSING),
            shown + (f" ({reason})" if reason else ""),
            money_text(payment.get("amount"), payment.get("currency")),
            money_text(payment.get("fee")),
            money_text(payment.get("net")),
        )
    return table


def totals_table(report: Report) -> Table:
    totals = section(report, "performance", "totals")
    table = Table(title="Totals", title_justify="left", show_header=False)
    table.add_column("Measure")
    table.add_column("Value", justify="right")
    completed, failed = totals.get("payments_completed"), totals.get("payments_failed")
    rows = (
        ("Gross revenue", money_text(totals.get("gross_revenue"))),
        ("Processor fees", money_text(totals.get("fees"))),
        ("Net revenue", money_text(totals.get("net_revenue"))),
        ("Payments", f"{count_text(completed)} completed, {count_text(failed)} failed"),
        ("Success rate", percent_text(totals.get("success_rate"))),
        ("Average transaction", money_text(totals.get("average_transaction"))),
        ("Conversion (paid / reached)", percent_text(totals.get("conversion_rate"), places=3)),
        ("ROI on spend", percent_text(totals.get("roi"))),
    )
    for measure, value in rows:
        table.add_row(measure, value)
    return table


def processor_table(report: Report) -> Table:
    totals = section(report, "performance", "totals")
    table = Table(title="Processor mix", title_justify="left")
    table.add_column("Processor")
    table.add_column("Payments", justify="right")
    table.add_column("Gross", justify="right")
    for share in totals.get("processor_mix") or []:
        table.add_row(
            str(share.get("processor")),
            count_text(share.get("count")),
            money_text(share.get("gross")),
        )
    return table


def render_report(report: Report, console: Console) -> None:
    plan = section(report, "plan", "campaign")
    title = f"Campaign {report.get('campaign_id') or plan.get('campaign_id')}"
    if name := plan.get("name") or report.get("name"):
        title += f" — {name}"
    overview = Table.grid(padding=(0, 4))
    overview.add_row(plan_table(report), reach_table(report))
    summary = Table.grid(padding=(0, 4))
    summary.add_row(totals_table(report), processor_table(report))
    body = Group(overview, segments_table(report), payments_table(report), summary)
    console.print(Panel(body, title=title, title_align="left", expand=False))
