"""The Graph objects an ad set order becomes: the ad set's fields, the link ad's creative,
amounts in the account currency's minor units."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.launcher.ads.platform import AdSetOrder, Creative
from shared.events.common import Channel
from shared.money import MINOR_UNITS, Money

PUBLISHER_PLATFORMS: Mapping[Channel, list[str]] = {
    Channel.SOCIAL: ["facebook", "instagram"],
    Channel.WEB: ["audience_network"],
}


def minor_units(amount: Money) -> int:
    """The amount as an integer count of the currency's minor unit (cents for USD)."""
    return int(amount.amount.scaleb(MINOR_UNITS[amount.currency]))


def adset_fields(order: AdSetOrder, campaign_id: str) -> dict[str, str]:
    targeting = {
        "publisher_platforms": PUBLISHER_PLATFORMS[order.placement],
        "custom_audiences": [{"id": order.audience.segment_id, "name": order.audience.name}],
    }
    fields = {
        "campaign_id": campaign_id,
        f"{order.budget.kind.value}_budget": str(minor_units(order.budget.amount)),
        "bid_amount": str(minor_units(order.bid)),
        "billing_event": "IMPRESSIONS",
        "optimization_goal": "IMPRESSIONS",
        "targeting": json.dumps(targeting),
        "status": "ACTIVE",
    }
    for name, at in (("start_time", order.starts_at), ("end_time", order.ends_at)):
        if at is not None:
            fields[name] = at.isoformat()
    return fields


def link_ad_creative(creative: Creative, page_id: str) -> dict[str, Any]:
    """An inline link-ad creative run as the Facebook Page ``page_id``."""
    link: dict[str, Any] = {
        "link": creative.landing_url,
        "name": creative.headline,
        "message": creative.body,
    }
    if creative.call_to_action:
        link["call_to_action"] = {"type": "SHOP_NOW", "value": {"link": creative.landing_url}}
        link["description"] = creative.call_to_action
    return {"object_story_spec": {"page_id": page_id, "link_data": link}}
