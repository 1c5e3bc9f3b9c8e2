"""``request``: a campaign request from a JSON file or options, checked before it is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.cli.events_client import EventPublisher, cloud_event
from shared.events.campaigns import CampaignRequested
from shared.events.topics import CAMPAIGN_REQUESTED
from shared.settings import KafkaClientSettings


def request_from_file(path: Path) -> dict[str, Any]:
    """The file's JSON object; ``ValueError`` names the problem when it is not one."""
    try:
        loaded = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a JSON object with the campaign request")
    return loaded


def request_from_options(
    *,
    campaign_id: str | None,
    name: str | None,
    budget: str,
    currency: str,
    channels: str,
    sku: str | None,
    product_name: str | None,
    price: str | None,
) -> dict[str, Any]:
    """The request the options describe; options left out are reported by validation."""
    fields: dict[str, Any] = {
        "campaign_id": campaign_id,
        "name": name,
        "budget": {"amount": budget, "currency": currency},
        "channels": [channel.strip() for channel in channels.split(",") if channel.strip()],
        "product": {
            "sku": sku,
            "name": product_name,
            "price": {"amount": price, "currency": currency} if price is not None else None,
        },
    }
    return without_missing(fields)


def without_missing(fields: dict[str, Any]) -> dict[str, Any]:
    """Drop options not given, so validation says "Field required" rather than "not None"."""
    return {
        key: without_missing(value) if isinstance(value, dict) else value
        for key, value in fields.items()
        if value is not None
    }


async def publish_request(cluster: KafkaClientSettings, request: CampaignRequested) -> str:
    """Publish a validated request; returns the event id."""
    cid = request.campaign_id
    event = cloud_event(CAMPAIGN_REQUESTED, request, subject=cid, correlationid=cid)
    async with EventPublisher(cluster) as publisher:
        await publisher.send_and_wait(CAMPAIGN_REQUESTED, event, key=cid)
    return event.id
