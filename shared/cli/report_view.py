"""The campaign report, as rich tables: plan, audience, reach, payments and totals, then the
journey's sections (``journey_view``) and the optimisation's (``optimisation_view``).

Renders the analytics API's ``CampaignReport`` defensively: a part that is not there yet
(a campaign still being planned, no payments so far) shows as missing, never an error.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from shared.cli.journey_view import journey_tables
from shared.cli.optimisation_view import optimisation_tables
from shared.cli.report_format import MISSING, count_text, money_text, percent_text

type Report = dict[str, Any]


def table(title: str, *columns: str, header: bool = True) -> Table:
    """Columns named ``>Name`` are right-aligned: they hold numbers."""
    shown = Table(title=title, title_justify="left", show_header=header)
    for column in columns:
        numeric = column.startswith(">")
        shown.add_column(column.lstrip(">"), justify="right" if numeric else "left")
    return shown


def plan_table(report: Report) -> Table:
    shown = table("Plan", "Channel", ">Allocation")
    for channel, amount in (report.get("allocation") or {}).items():
        shown.add_row(channel, money_text(amount))
    shown.add_section()
    shown.add_row("[bold]Budget[/]", money_text(report.get("budget")))
    shown.add_row("Predicted revenue", money_text(report.get("predicted_revenue")))
    shown.add_row("Predicted ROI", percent_text(report.get("predicted_roi")))
    return shown


def reach_table(report: Report) -> Table:
    reach = report.get("reach") or {}
    shown = table("Reach", "Channel", ">People reached")
    for channel, count in (reach.get("channels") or {}).items():
        shown.add_row(channel, count_text(count))
    shown.add_section()
    shown.add_row("[bold]Total[/]", count_text(reach.get("total")))
    launch = report.get("launch") or {}
    if launch:
        shown.add_row("Held out (for the lift)", count_text(launch.get("held_out")))
        for reason, count in (launch.get("skipped") or {}).items():
            shown.add_row(f"Skipped: {reason.replace('_', ' ')}", count_text(count))
    return shown


def segments_table(report: Report) -> Table:
    shown = table("Segments", "Segment", "Name", ">Size", ">Predicted conversion")
    for segment in report.get("segments") or []:
        shown.add_row(
            str(segment.get("segment_id")),
            str(segment.get("name") or MISSING),
            count_text(segment.get("size")),
            percent_text(segment.get("predicted_conversion_rate"), places=2),
        )
    return shown


def payment_status(payment: Report) -> str:
    status = str(payment.get("status"))
    if status == "completed":
        return "[green]completed[/]"
    reason = payment.get("failure_reason")
    return f"[red]{status}[/]" + (f" ({reason})" if reason else "")


def payments_table(report: Report) -> Table:
    shown = table(
        "Payments", "Payment", "Customer", "Method", "Processor", "Attributed to", "Status",
        ">Amount", ">Fee", ">Net",
    )  # fmt: skip
    for payment in report.get("payments") or []:
        attribution = payment.get("attribution") or {}
        shown.add_row(
            str(payment.get("payment_id")),
            str(payment.get("customer_id")),
            str(payment.get("payment_method")),
            str(payment.get("processor")),
            " · ".join(str(attribution[k]) for k in ("channel", "segment_id") if attribution.get(k))
            or MISSING,
            payment_status(payment),
            money_text(payment.get("amount")),
            money_text(payment.get("fee")),
            money_text(payment.get("net")),
        )
    return shown


def totals_table(report: Report) -> Table:
    totals = report.get("totals") or {}
    completed, failed = totals.get("payments_completed"), totals.get("payments_failed")
    shown = table("Totals", "Measure", ">Value", header=False)
    rows = [
        ("Gross revenue", money_text(totals.get("gross"))),
        ("Processor fees", money_text(totals.get("fees"))),
        ("Net revenue", money_text(totals.get("net"))),
        ("Payments", f"{count_text(completed)} completed, {count_text(failed)} failed"),
        ("Success rate", percent_text(totals.get("success_rate"))),
        ("Average transaction", money_text(totals.get("average_transaction"))),
        ("Conversion (paid / reached)", percent_text(report.get("conversion_rate"), places=3)),
        ("Spend (budget + AI cost)", money_text(report.get("spend"))),
        ("AI cost (USD)", str(report.get("ai_cost") or "0")),
        ("ROI so far (net - spend) / spend", percent_text(report.get("actual_roi"))),
    ]
    if report.get("awaiting_attribution"):
        rows.append(("Awaiting the click they name", count_text(report["awaiting_attribution"])))
    for measure, value in rows:
        shown.add_row(measure, value)
    return shown


def processor_table(report: Report) -> Table:
    shown = table("Processor mix", "Processor", ">Payments", ">Gross")
    for share in (report.get("totals") or {}).get("processor_mix") or []:
        shown.add_row(
            str(share.get("processor")),
            count_text(share.get("count")),
            money_text(share.get("gross")),
        )
    return shown


def other_currencies_table(report: Report) -> Table:
    """Payments in currencies other than the totals', summed as paid: never converted."""
    shown = table("Other currencies", "Currency", ">Payments", ">Gross", ">Fees", ">Net")
    for other in report.get("other_currencies") or []:
        shown.add_row(
            str(other.get("currency")),
            count_text(other.get("payments_completed")),
            money_text(other.get("gross")),
            money_text(other.get("fees")),
            money_text(other.get("net")),
        )
    return shown


def side_by_side(*tables: Table) -> Table:
    row = Table.grid(padding=(0, 4))
    row.add_row(*tables)
    return row


def render_report(report: Report, console: Console) -> None:
    title = f"Campaign {report.get('campaign_id')}"
    if name := report.get("name"):
        title += f" — {name}"
    parts: list[RenderableType] = [
        side_by_side(plan_table(report), reach_table(report)),
        segments_table(report),
        payments_table(report),
        side_by_side(totals_table(report), processor_table(report)),
    ]
    if report.get("other_currencies"):
        parts.append(other_currencies_table(report))
    parts.extend(journey_tables(report))
    parts.extend(optimisation_tables(report))
    body = Group(*parts)
    console.print(Panel(body, title=title, title_align="left", expand=False))
