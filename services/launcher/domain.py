"""Launch rules: a campaign launches once everything it needs has arrived, with its reach.

Reach per channel: email reaches the segments' members who opted in to marketing email;
a paid channel (social, web) buys floor(spend / CPM x 1000) impressions. All Decimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from shared.events.campaigns import CampaignLaunched, CampaignPlanned, CampaignSegmented
from shared.events.common import Channel


@dataclass(frozen=True)
class LaunchBrief:
    """What has arrived for a campaign so far, in whatever order it came."""

    planned: CampaignPlanned | None = None
    segmented: CampaignSegmented | None = None
    content_variants: int | None = None


def email_reach(segmented: CampaignSegmented) -> int:
    return sum(segment.email_reachable for segment in segmented.segments)


def paid_impressions(spend: Decimal, cpm: Decimal) -> int:
    """Whole impressions the spend buys; a fraction of one is not bought."""
    return int((spend / cpm * 1000).to_integral_value(rounding=ROUND_FLOOR))


def channel_reach(
    planned: CampaignPlanned, segmented: CampaignSegmented, cpm: Mapping[Channel, Decimal]
) -> dict[Channel, int]:
    """Reach of each requested channel; the plan's allocation lists only requested ones."""
    return {
        channel: (
            email_reach(segmented)
            if channel is Channel.EMAIL
            else paid_impressions(spend.amount, cpm[channel])
        )
        for channel, spend in planned.allocation.items()
    }


def launch(
    brief: LaunchBrief, now: datetime, cpm: Mapping[Channel, Decimal]
) -> CampaignLaunched | None:
    """The launch, once the plan, the segments and the content have all arrived; else None."""
    if brief.planned is None or brief.segmented is None or brief.content_variants is None:
        return None
    reach = channel_reach(brief.planned, brief.segmented, cpm)
    return CampaignLaunched(
        campaign_id=brief.planned.campaign_id,
        reach=reach,
        total_reach=sum(reach.values()),
        launched_at=now,
    )
