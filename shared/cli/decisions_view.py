"""``campaignctl decisions``: every decision of a campaign (AI steps and the optimiser's rules),
from each service's log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table


@dataclass
class CampaignDecisions:
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)


async def _service_decisions(
    client: httpx.AsyncClient, url: str, campaign_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"{url}/v1/campaigns/{campaign_id}/decisions")
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["decisions"]
    return found


async def fetch_decisions(
    urls: dict[str, str], headers: dict[str, str], campaign_id: str
) -> CampaignDecisions:
    """Ask every service at once; one that does not answer is reported, not fatal.
    ``headers`` carry the key (``CliSettings.reporting_headers``)."""
    async with httpx.AsyncClient(headers=headers, timeout=5) as client:
        answers = await asyncio.gather(
            *(_service_decisions(client, url, campaign_id) for url in urls.values()),
            return_exceptions=True,
        )
    result = CampaignDecisions()
    for (service, url), answer in zip(urls.items(), answers, strict=True):
        if isinstance(answer, BaseException):
            result.unreachable[service] = f"{url}: {answer or type(answer).__name__}"
        else:
            result.rows += [(service, decision) for decision in answer]
    result.rows.sort(key=lambda row: str(row[1].get("at", "")))
    return result


def render_decisions(campaign_id: str, found: CampaignDecisions, console: Console) -> None:
    table = Table(title=f"Decisions for {campaign_id}")
    for column in ("service", "step", "engine", "template", "input hash", "tokens in/out"):
        table.add_column(column)
    table.add_column("cost (USD)", justify="right")
    table.add_column("latency ms", justify="right")
    table.add_column("summary / violations / fallback")
    for service, decision in found.rows:
        notes = [decision["summary"]] if decision.get("summary") else []
        notes += decision.get("violations", [])
        if decision.get("fallback_reason"):
            notes.append(f"fallback: {decision['fallback_reason']}")
        table.add_row(
            service,
            str(decision.get("step", "")),
            str(decision.get("engine", "")),
            str(decision.get("template_version", "")),
            str(decision.get("input_hash", ""))[:12],
            f"{decision.get('input_tokens', 0)}/{decision.get('output_tokens', 0)}",
            str(decision.get("cost_usd", "0")),
            str(decision.get("latency_ms", "")),
            "; ".join(notes),
        )
    console.print(table)
    for service, problem in found.unreachable.items():
        console.print(f"[yellow]{service}[/]: no decision log ({problem})", highlight=False)
