"""The report's optimisation section as rich tables: the latest A/B verdicts per segment x
channel (chance to win, uplift interval, expected loss, next weight, winner or SRM) and the
planner's latest reallocation.

Renders defensively, like the rest of the report view: no section (no cycle yet, or an
older analytics) renders nothing.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from shared.cli.report_format import MISSING, money_text, percent_text

type Report = dict[str, Any]


def optimisation_tables(report: Report) -> list[RenderableType]:
    section = report.get("optimisation")
    if not isinstance(section, dict) or not isinstance(section.get("latest"), dict):
        return []
    parts: list[RenderableType] = [verdicts_table(section)]
    reallocations = section.get("reallocations") or []
    if reallocations:
        parts.append(reallocation_table(reallocations[-1]))
    return parts


def verdicts_table(section: Report) -> Table:
    latest = section["latest"]
    shown = Table(
        title=f"A/B verdicts (cycle {latest.get('cycle')}, {section.get('cycles')} so far)",
        title_justify="left",
    )
    for column in ("Segment · channel", "Variant"):
        shown.add_column(column)
    for column in ("Chance to win", "Uplift (95% interval)", "Expected loss", "Next weight"):
        shown.add_column(column, justify="right")
    shown.add_column("Verdict")
    for verdict in latest.get("experiments") or []:
        test = f"{verdict.get('segment_id')} · {verdict.get('channel')}"
        weights = verdict.get("weights") or {}
        for variant in verdict.get("variants") or []:
            variant_id = variant.get("variant_id")
            uplift = variant.get("conversion")
            shown.add_row(
                test,
                str(variant_id),
                percent_text(uplift.get("chance_to_win")) if uplift else MISSING,
                uplift_text(uplift),
                percent_text(uplift.get("risk_of_shipping"), places=2) if uplift else MISSING,
                percent_text(weights.get(variant_id)),
                status_text(verdict, variant_id),
            )
        shown.add_section()
    return shown


def uplift_text(uplift: Any) -> str:
    if not isinstance(uplift, dict):
        return MISSING
    return (
        f"{percent_text(uplift.get('mean'))} "
        f"({percent_text(uplift.get('low'))} to {percent_text(uplift.get('high'))})"
    )


def status_text(verdict: Report, variant_id: Any) -> Text:
    if verdict.get("winner") == variant_id:
        return Text("winner", style="bold green")
    if verdict.get("sample_ratio_mismatch"):
        return Text(f"SRM (p = {verdict.get('srm_p_value', 0):.2g}): frozen", style="red")
    if variant_id == verdict.get("control"):
        return Text("control", style="dim")
    return Text("")


def reallocation_table(reallocated: Report) -> Table:
    shown = Table(
        title=f"Latest reallocation (cycle {reallocated.get('cycle')}, "
        f"{reallocated.get('engine', MISSING)}): {money_text(reallocated.get('remaining'))} left",
        title_justify="left",
        caption=str(reallocated.get("rationale") or ""),
        caption_justify="left",
    )
    shown.add_column("Channel")
    for column in ("Spent", "Before", "After"):
        shown.add_column(column, justify="right")
    previous, spent = reallocated.get("previous") or {}, reallocated.get("spent") or {}
    for channel, amount in (reallocated.get("allocation") or {}).items():
        shown.add_row(
            channel,
            money_text(spent.get(channel)),
            money_text(previous.get(channel)),
            money_text(amount),
        )
    return shown
