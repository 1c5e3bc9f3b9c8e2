"""Content rules: an A/B pair of messages per segment and channel, from a template library.

Variant ``a`` is value-led (why this product suits this segment), variant ``b`` is
urgency-led (the offer ends with the campaign's schedule), so an A/B test compares two
different reasons to buy rather than two wordings of one. Copy is chosen by segment id
and framed by channel; a segment the library does not know (a future clustering engine
may name its own) gets the generic copy. Channel limits are enforced, not assumed: a long
product name is cut at a word boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignPlanned,
    CampaignSegmented,
    ContentPiece,
    Product,
)
from shared.events.common import Channel

EMAIL_SUBJECT_LIMIT = 78  # RFC 5322's recommended line length; longer subjects get cut off
SOCIAL_BODY_LIMIT = 280
WEB_HEADLINE_LIMIT = 40
UTM_MEDIUM: Mapping[Channel, str] = {
    Channel.EMAIL: "email",
    Channel.SOCIAL: "paid_social",
    Channel.WEB: "display",
}


@dataclass(frozen=True)
class Pitch:
    """One reason to buy: a headline and a line with {product}, {price} and {ends} slots."""

    headline: str
    line: str


@dataclass(frozen=True)
class SegmentCopy:
    value: Pitch
    urgency: Pitch


GENERIC_COPY = SegmentCopy(
    value=Pitch("Picked for you", "{product}, now {price}: made to be used every day."),
    urgency=Pitch("Ends {ends}", "{product} is {price} until {ends}. Don't wait too long."),
)
COPY_LIBRARY: Mapping[str, SegmentCopy] = {
    "high_value": SegmentCopy(
        value=Pitch(
            "Made for our best customers",
            "As one of our best customers, you get first access to {product} at {price}.",
        ),
        urgency=Pitch(
            "Your early access ends {ends}",
            "Your early access to {product} at {price} closes on {ends}, "
            "then it opens to everyone.",
        ),
    ),
    "occasional": SegmentCopy(
        value=Pitch(
            "Something new worth a look",
            "Good to see you again. {product} is here for {price}, and we think it suits you.",
        ),
        urgency=Pitch(
            "Only until {ends}",
            "{product} is {price} only until {ends}. Add it to your next order now.",
        ),
    ),
    "at_risk": SegmentCopy(
        value=Pitch(
            "We've missed you",
            "It's been a while, so here is what's new: {product}, at {price}.",
        ),
        urgency=Pitch(
            "Come back before {ends}",
            "It's been a while. {product} is {price} until {ends}, then the offer is gone.",
        ),
    ),
    "engaged_prospects": SegmentCopy(
        value=Pitch(
            "You've had your eye on this",
            "You've been looking around: {product}, at {price}, is the place to start.",
        ),
        urgency=Pitch(
            "Your first order, before {ends}",
            "Make {product} your first order: {price} until {ends}.",
        ),
    ),
    "new_prospects": SegmentCopy(
        value=Pitch(
            "Meet our new favourite",
            "Meet {product}: {price}, and an easy first pick from our shop.",
        ),
        urgency=Pitch(
            "New here? Offer ends {ends}",
            "New here? {product} is {price} until {ends}, so now is the time to try it.",
        ),
    ),
}


def fit(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,.:;-") + "…"


def tracking_url(
    base_url: str, sku: str, campaign_id: str, segment_id: str, channel: Channel, variant_id: str
) -> str:
    """The landing page link; its query says which campaign, segment, channel and variant sold."""
    query = urlencode(
        {
            "utm_source": channel.value,
            "utm_medium": UTM_MEDIUM[channel],
            "utm_campaign": campaign_id,
            "utm_content": variant_id,
            "seg": segment_id,
        }
    )
    return f"{base_url.rstrip('/')}/p/{quote(sku, safe='')}?{query}"


def render(pitch: Pitch, product: Product, ends_at: datetime) -> Pitch:
    slots = {
        "product": product.name,
        "price": str(product.price),
        "ends": f"{ends_at:%b} {ends_at.day}",
    }
    return Pitch(pitch.headline.format(**slots), pitch.line.format(**slots))


@dataclass(frozen=True)
class Framed:
    body: str
    subject: str | None = None
    headline: str | None = None


def frame(pitch: Pitch, channel: Channel, product: Product) -> Framed:
    """The pitch in the channel's fields and within the channel's limits."""
    if channel is Channel.EMAIL:
        # {first_name} stays a token: the sender renders it per recipient at send time.
        return Framed(
            subject=fit(f"{pitch.headline}: {product.name}", EMAIL_SUBJECT_LIMIT),
            body=f"Hi {{first_name}},\n\n{pitch.line}",
        )
    if channel is Channel.SOCIAL:
        return Framed(headline=pitch.headline, body=fit(pitch.line, SOCIAL_BODY_LIMIT))
    return Framed(headline=fit(pitch.headline, WEB_HEADLINE_LIMIT), body=pitch.line)


@dataclass(frozen=True)
class ContentBrief:
    """What has arrived for a campaign so far; content needs both its plan and its segments."""

    planned: CampaignPlanned | None = None
    segmented: CampaignSegmented | None = None


def content_for(brief: ContentBrief, landing_base_url: str) -> CampaignContentGenerated | None:
    """The campaign's content once both inputs have arrived, else None."""
    if brief.planned is None or brief.segmented is None:
        return None
    return generate_content(brief.planned, brief.segmented, landing_base_url)


def generate_content(
    planned: CampaignPlanned, segmented: CampaignSegmented, landing_base_url: str
) -> CampaignContentGenerated:
    """Two variants (a: value-led, b: urgency-led) per segment and requested channel."""
    channels = [channel for channel in Channel if channel in planned.allocation]
    pieces = []
    for segment in segmented.segments:
        copy = COPY_LIBRARY.get(segment.segment_id, GENERIC_COPY)
        for channel in channels:
            for letter, pitch in (("a", copy.value), ("b", copy.urgency)):
                variant_id = f"{segment.segment_id}-{channel.value}-{letter}"
                framed = frame(
                    render(pitch, planned.product, planned.schedule.ends_at),
                    channel,
                    planned.product,
                )
                pieces.append(
                    ContentPiece(
                        segment_id=segment.segment_id,
                        channel=channel,
                        variant_id=variant_id,
                        cta_url=tracking_url(
                            landing_base_url,
                            planned.product.sku,
                            planned.campaign_id,
                            segment.segment_id,
                            channel,
                            variant_id,
                        ),
                        subject=framed.subject,
                        headline=framed.headline,
                        body=framed.body,
                    )
                )
    return CampaignContentGenerated(campaign_id=planned.campaign_id, content=pieces)
