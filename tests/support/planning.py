"""Arranging what a planner knows before a test asks it to plan, and what a running
campaign's evaluation tells it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from shared.events.topics import CAMPAIGN_EVALUATED
from shared.runtime import Service
from tests.support.kafka import Event, cloud_event, for_campaign
from tests.support.services import REPORTS_AUTH


async def given_audience(service: Service, reachable: int, expected_purchases: float) -> None:
    """Arrange the email audience the planner knows, later than any segmentation it may read
    from the topic: other tests' segmentations would otherwise bound email differently
    between two plans of one test."""
    await service.infra.db["audiences"].replace_one(
        {"_id": "latest"},
        {
            "as_of": datetime.now(UTC) + timedelta(days=1),
            "reachable": reachable,
            "expected_purchases": expected_purchases,
        },
        upsert=True,
    )


def money(amount: Decimal | str) -> dict[str, str]:
    return {"amount": str(amount), "currency": "USD"}


def amounts(split: dict[str, Any]) -> dict[str, Decimal]:
    return {channel: Decimal(m["amount"]) for channel, m in split.items()}


def campaign_evaluated(
    cid: str, cycle: int, spend: dict[str, Decimal], net: dict[str, str]
) -> Event:
    channels = [
        {
            "channel": channel,
            "spend": money(spend[channel]),
            "net": money(net[channel]),
            "conversions": 0,
            "clicks": 0,
        }
        for channel in spend
    ]
    data = {
        "campaign_id": cid,
        "cycle": cycle,
        "as_of": datetime.now(UTC).isoformat(),
        "arms": [],
        "experiments": [],
        "channels": channels,
    }
    return cloud_event(CAMPAIGN_EVALUATED, data, subject=cid)


def first_fifth_spent(allocation: dict[str, Decimal]) -> dict[str, Decimal]:
    """Email's whole allocation (analytics charges it once anyone is emailed), a fifth of ads'."""
    return {
        c: a if c == "email" else (a / 5).quantize(Decimal("0.01")) for c, a in allocation.items()
    }


# Social earns a hundred times what it spends; web barely earns at all.
EARNINGS = {"email": "500.00", "social": "1000000.00", "web": "10.00"}


async def decisions_of(service: Service, cid: str) -> list[dict[str, Any]]:
    port = service.http_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=REPORTS_AUTH) as http:
        response = await http.get(f"/v1/campaigns/{cid}/decisions")
    decisions: list[dict[str, Any]] = response.json()["decisions"]
    return decisions


def of_cycle(cid: str, cycle: int) -> Any:
    return lambda e: for_campaign(cid)(e) and e["data"]["cycle"] == cycle
