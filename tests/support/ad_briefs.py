"""Complete launch briefs with paid channels, as the ad buyer takes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.launcher.domain.brief import LaunchBrief
from shared.events.campaigns import CampaignPlanned, CampaignSegmented, ContentPiece
from tests.support.factories import campaign_planned, campaign_segmented


def ad_piece(segment: str, channel: str, letter: str, **fields: Any) -> ContentPiece:
    return ContentPiece.model_validate(
        {
            "segment_id": segment,
            "channel": channel,
            "variant_id": f"{segment}-{channel}-{letter}",
            "headline": f"{segment} {letter}",
            "body": "Hi {first_name}, quiet wherever you are.",
            "call_to_action": "Shop now",
            "cta_url": f"https://shop.example.com/p/1?utm_source={channel}",
        }
        | fields
    )


# Two segments (1,000 and 2,000 people); social: 2 + 1 variants, web: 1 + 2, email: 1.
PAID_CONTENT = (
    ad_piece("high_value", "email", "a"),
    ad_piece("high_value", "social", "a"),
    ad_piece("high_value", "social", "b"),
    ad_piece("at_risk", "social", "a"),
    ad_piece("high_value", "web", "a"),
    ad_piece("at_risk", "web", "a"),
    ad_piece("at_risk", "web", "b"),
)


def paid_brief(
    campaign_id: str,
    content: tuple[ContentPiece, ...] = PAID_CONTENT,
    *,
    segmented: dict[str, Any] | None = None,
    **planned: Any,
) -> LaunchBrief:
    """A complete brief running from a minute ago for two weeks (the factories' default
    allocation: email 20,000, social 17,500, web 12,500 USD)."""
    now = datetime.now(UTC)
    schedule = {
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(days=14)).isoformat(),
    }
    return LaunchBrief(
        campaign_id=campaign_id,
        planned=CampaignPlanned.model_validate(
            campaign_planned(campaign_id, **({"schedule": schedule} | planned))
        ),
        segmented=CampaignSegmented.model_validate(
            campaign_segmented(campaign_id, **(segmented or {}))
        ),
        content=list(content),
        audience_chunks=frozenset({0}),
        audience_chunk_count=1,
    )
