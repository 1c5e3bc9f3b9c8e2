"""The copywriter's job, whoever does it (a model or the offline library).

``CopyFacts`` is what the writer is given: campaign facts and segment aggregates, never a
customer. ``CopyDraft`` is what it delivers: for each segment, one pitch per reason to buy
(value, urgency, social proof), so an A/B/C test compares three reasons rather than three
wordings of one. Everything else in a piece (channel fields and limits, the email footer,
tracking links, the ``{first_name}`` greeting) is computed by ``domain``, never written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.events.campaigns import CampaignPlanned, CampaignSegmented
from shared.events.common import Channel

type Dimension = str  # "value" | "urgency" | "social_proof"
DIMENSIONS: tuple[Dimension, ...] = ("value", "urgency", "social_proof")


class Pitch(BaseModel):
    """One reason to buy, in the words every channel's piece is framed from."""

    model_config = ConfigDict(frozen=True)

    headline: str = Field(
        description="At most 40 characters: the social and web headline; the email subject "
        "is this headline followed by the product name."
    )
    line: str = Field(
        description="The message in one or two sentences, naming the product and its price; "
        "at most 280 characters."
    )
    preheader: str = Field(description="Email preview text, at most 140 characters.")
    call_to_action: str = Field(description="The button label: a few words.")


class SegmentPitches(BaseModel):
    model_config = ConfigDict(frozen=True)

    segment_id: str = Field(description="Exactly as given in the facts.")
    value: Pitch = Field(description="Why this product suits these people.")
    urgency: Pitch = Field(description="The offer ends on the date given.")
    social_proof: Pitch = Field(
        description="People like them chose it; qualitative, no figures you were not given."
    )

    def pitch(self, dimension: Dimension) -> Pitch:
        pitch: Pitch = getattr(self, dimension)
        return pitch


class CopyDraft(BaseModel):
    """The copy of one campaign: three pitches for each of its segments."""

    model_config = ConfigDict(frozen=True)

    segments: list[SegmentPitches] = Field(description="One entry per segment in the facts.")

    def by_segment(self) -> dict[str, SegmentPitches]:
        """The pitches per segment id; the first entry wins should a segment repeat."""
        found: dict[str, SegmentPitches] = {}
        for entry in self.segments:
            found.setdefault(entry.segment_id, entry)
        return found


class SegmentProfile(BaseModel):
    """A segment as the writer sees it: what the segmenter says of it as a whole."""

    model_config = ConfigDict(frozen=True)

    segment_id: str
    name: str
    description: str | None
    strategy: str | None
    size: int


class CopyFacts(BaseModel):
    """The writer's input: deterministic for given events, so a decision can be replayed."""

    model_config = ConfigDict(frozen=True)

    campaign_name: str
    product_name: str
    product_price: str = Field(description="As the copy shows it, e.g. '149.99 USD'.")
    offer_ends: str = Field(description="The campaign's last day, as the copy shows it.")
    channels: list[Channel]
    segments: list[SegmentProfile]
    banned_claims: list[str]


def offer_end(ends_at: datetime) -> str:
    return f"{ends_at:%b} {ends_at.day}"


def copy_facts(
    planned: CampaignPlanned, segmented: CampaignSegmented, banned_claims: Sequence[str]
) -> CopyFacts:
    """Only named fields are copied: whatever else an event carries never reaches a writer."""
    return CopyFacts(
        campaign_name=planned.name,
        product_name=planned.product.name,
        product_price=str(planned.product.price),
        offer_ends=offer_end(planned.schedule.ends_at),
        channels=[channel for channel in Channel if channel in planned.allocation],
        segments=[
            SegmentProfile(
                segment_id=segment.segment_id,
                name=segment.name,
                description=segment.description,
                strategy=segment.strategy,
                size=segment.size,
            )
            for segment in segmented.segments
        ],
        banned_claims=list(banned_claims),
    )


def draft_violations(facts: CopyFacts, draft: CopyDraft) -> list[str]:
    """What the framed pieces cannot show: a segment missed, repeated or invented, or a
    blank field."""
    expected = [segment.segment_id for segment in facts.segments]
    written = [entry.segment_id for entry in draft.segments]
    found = [f"segment {s!r} has no pitches" for s in expected if s not in written]
    found += [
        f"segment {s!r} is not one of the campaign's segments" for s in written if s not in expected
    ]
    found += [f"segment {s!r} has more than one entry" for s in expected if written.count(s) > 1]
    for entry in draft.segments:
        for dimension in DIMENSIONS:
            pitch = entry.pitch(dimension)
            found += [
                f"segment {entry.segment_id!r}, {dimension}: {field} is blank"
                for field, text in pitch.model_dump().items()
                if not text.strip()
            ]
    return found
