"""Content rules: A/B/C variants per segment and channel, framed from a writer's pitches.

Variants differ in the reason to buy (value, urgency, social proof; see ``copywriting``).
The pitches come from a model or the offline library (``templates``); either way they are
framed here, by channel and within the channel's limits: the product name a field carries
is cut at a word boundary when it is too long, but a writer's headline never is, so a
headline over a limit is left for the guardrails to refuse. Every email carries the
unsubscribe link and the sender's postal address (CAN-SPAM); ``{first_name}`` and
``{unsubscribe_url}`` stay tokens, rendered per recipient at send time by the launcher
(``shared.personalisation``). Output is checked
by the shared guardrails whichever engine wrote it; see ``violations`` and ``vet``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from services.content.copywriting import DIMENSIONS, CopyDraft, Pitch, copy_facts
from services.content.templates import library_draft
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignPlanned,
    CampaignSegmented,
    ContentPiece,
    Product,
    Segment,
)
from shared.events.common import Channel
from shared.guardrails import (
    EMAIL_PREHEADER_LIMIT,
    EMAIL_SUBJECT_LIMIT,
    SOCIAL_BODY_LIMIT,
    check_content,
)
from shared.personalisation import UNSUBSCRIBE_URL

VARIANT_LETTERS = "abc"
UTM_MEDIUM: Mapping[Channel, str] = {
    Channel.EMAIL: "email",
    Channel.SOCIAL: "paid_social",
    Channel.WEB: "display",
}


@dataclass(frozen=True)
class Sender:
    """Who the content comes from: where its links land, its legal footer, what it never claims."""

    landing_base_url: str
    postal_address: str
    banned_claims: Sequence[str] = ()


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


def email_footer(sender: Sender) -> str:
    """CAN-SPAM's footer: why they get it, how to stop (each recipient's own signed link,
    rendered at send time) and the sender's postal address."""
    return (
        "You are receiving this because you opted in to our emails. "
        f"Unsubscribe: {UNSUBSCRIBE_URL}\n{sender.postal_address}"
    )


def email_subject(headline: str, product_name: str) -> str:
    """The headline, then the product name cut to fit; the headline itself is never cut."""
    if len(headline) > EMAIL_SUBJECT_LIMIT - len(": x…"):
        return headline
    return fit(f"{headline}: {product_name}", EMAIL_SUBJECT_LIMIT)


def frame(pitch: Pitch, channel: Channel, product: Product, footer: str) -> dict[str, str]:
    """The pitch in the channel's fields, cut to the channel's limits except its headline."""
    if channel is Channel.EMAIL:
        return {
            "subject": email_subject(pitch.headline, product.name),
            "preheader": fit(pitch.preheader, EMAIL_PREHEADER_LIMIT),
            "body": f"Hi {{first_name}},\n\n{pitch.line}\n\n--\n{footer}",
            "call_to_action": pitch.call_to_action,
        }
    if channel is Channel.SOCIAL:
        return {
            "headline": pitch.headline,
            "body": fit(pitch.line, SOCIAL_BODY_LIMIT),
            "call_to_action": pitch.call_to_action,
        }
    return {
        "headline": pitch.headline,
        "body": pitch.line,
        "call_to_action": pitch.call_to_action,
    }


@dataclass(frozen=True)
class ContentBrief:
    """What has arrived for a campaign so far; content needs both its plan and its segments."""

    planned: CampaignPlanned | None = None
    segmented: CampaignSegmented | None = None


def generate_content(
    planned: CampaignPlanned, segmented: CampaignSegmented, sender: Sender
) -> CampaignContentGenerated:
    """The offline engine's content: the library's pitches for each segment, framed."""
    facts = copy_facts(planned, segmented, sender.banned_claims)
    return compose(planned, segmented.segments, library_draft(facts), sender)


def compose(
    planned: CampaignPlanned, segments: Sequence[Segment], draft: CopyDraft, sender: Sender
) -> CampaignContentGenerated:
    """Three variants (a: value, b: urgency, c: social proof) per segment and channel.

    A segment the draft has no pitches for gets no pieces; the draft's own check says so.
    """
    channels = [channel for channel in Channel if channel in planned.allocation]
    footer = email_footer(sender)
    written = draft.by_segment()
    pieces = []
    for segment in segments:
        if segment.segment_id not in written:
            continue
        for channel in channels:
            for letter, dimension in zip(VARIANT_LETTERS, DIMENSIONS, strict=True):
                variant_id = f"{segment.segment_id}-{channel.value}-{letter}"
                cta_url = tracking_url(
                    sender.landing_base_url,
                    planned.product.sku,
                    planned.campaign_id,
                    segment.segment_id,
                    channel,
                    variant_id,
                )
                pitch = written[segment.segment_id].pitch(dimension)
                pieces.append(
                    ContentPiece(
                        segment_id=segment.segment_id,
                        channel=channel,
                        variant_id=variant_id,
                        cta_url=cta_url,
                        dimension=dimension,
                        **frame(pitch, channel, planned.product, footer),
                    )
                )
    return CampaignContentGenerated(campaign_id=planned.campaign_id, content=pieces)


def violations(content: CampaignContentGenerated, sender: Sender) -> list[str]:
    """The guardrails' findings on ``content``, in the shape the AI runner's check takes."""
    return check_content(
        content.content,
        banned_claims=sender.banned_claims,
        sender_postal_address=sender.postal_address,
    )


@dataclass(frozen=True)
class Dropped:
    variant_id: str
    violations: list[str]


def vet(
    content: CampaignContentGenerated, sender: Sender
) -> tuple[CampaignContentGenerated, list[Dropped]]:
    """The content without the pieces that break a guardrail, and those pieces' violations.

    The offline library is tested never to violate, so a drop means a bug or a product
    whose own name breaks a rule (say, a banned claim): better a campaign with fewer
    variants than one that sends a non-compliant email.
    """
    kept, dropped = [], []
    for piece in content.content:
        found = violations(content.model_copy(update={"content": [piece]}), sender)
        if found:
            dropped.append(Dropped(piece.variant_id, found))
        else:
            kept.append(piece)
    return content.model_copy(update={"content": kept}), dropped
