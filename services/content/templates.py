"""The offline copy library: three reasons to buy per kind of segment.

Each kind has a value pitch (why this product suits these people), an urgency pitch (the
offer ends with the campaign) and a social-proof pitch (people like them chose it), so an
A/B/C test compares three different reasons rather than three wordings of one. Social
proof stays qualitative: the library knows no figures, so it claims none.

Slots: ``{product}``, ``{price}`` and ``{ends}``. Headlines take only ``{ends}`` so a long
product name can never push them past a channel limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from services.content.copywriting import CopyDraft, CopyFacts, Dimension, Pitch, SegmentPitches


def pitch(headline: str, line: str, preheader: str, call_to_action: str) -> Pitch:
    return Pitch(headline=headline, line=line, preheader=preheader, call_to_action=call_to_action)


LIBRARY: Mapping[str, Mapping[Dimension, Pitch]] = {
    "prospect": {
        "value": pitch(
            "An easy first pick",
            "Meet {product}: {price}, and an easy way to get to know our shop.",
            "A good place to start: {product}, {price}.",
            "Take a look",
        ),
        "urgency": pitch(
            "First-order offer ends {ends}",
            "Make {product} your first order: {price} until {ends}.",
            "{price} until {ends}, then the offer closes.",
            "Claim the offer",
        ),
        "social_proof": pitch(
            "Where many of our customers start",
            "{product} is where many of our customers started, at {price}.",
            "A popular first order: {product}.",
            "See why",
        ),
    },
    "at_risk": {
        "value": pitch(
            "We've missed you",
            "It's been a while, so here is what's new: {product}, at {price}.",
            "Something new since your last visit: {product}.",
            "See what's new",
        ),
        "urgency": pitch(
            "Come back before {ends}",
            "It's been a while. {product} is {price} until {ends}, then the offer is gone.",
            "Your welcome-back price lasts until {ends}.",
            "Come back now",
        ),
        "social_proof": pitch(
            "What regulars are buying now",
            "Since your last visit, {product} has become a favourite of our regulars. "
            "It's {price}.",
            "Our regulars' new favourite: {product}.",
            "See the favourite",
        ),
    },
    "high_value": {
        "value": pitch(
            "Made for our best customers",
            "As one of our best customers, you get first access to {product} at {price}.",
            "First access for our best customers: {product}.",
            "Get first access",
        ),
        "urgency": pitch(
            "Early access ends {ends}",
            "Your early access to {product} at {price} closes on {ends}, "
            "then it opens to everyone.",
            "Early access closes {ends}.",
            "Shop before {ends}",
        ),
        "social_proof": pitch(
            "Our most loyal customers' pick",
            "{product} is already a pick of our most loyal customers. Yours for {price}.",
            "Loyal customers are choosing {product}.",
            "Join them",
        ),
    },
    "occasional": {
        "value": pitch(
            "Something new worth a look",
            "Good to see you again. {product} is here for {price}, and we think it suits you.",
            "New and worth a look: {product}, {price}.",
            "Have a look",
        ),
        "urgency": pitch(
            "Only until {ends}",
            "{product} is {price} only until {ends}. Add it to your next order now.",
            "{price} only until {ends}.",
            "Add to your order",
        ),
        "social_proof": pitch(
            "Popular with shoppers like you",
            "Shoppers who buy what you buy are adding {product} to their orders. {price}.",
            "Popular with shoppers like you: {product}.",
            "See what's popular",
        ),
    },
    "generic": {
        "value": pitch(
            "Picked for you",
            "{product}, now {price}: made to be used every day.",
            "Picked for you: {product}, {price}.",
            "Shop now",
        ),
        "urgency": pitch(
            "Ends {ends}",
            "{product} is {price} until {ends}. Don't wait too long.",
            "The offer ends {ends}.",
            "Shop before {ends}",
        ),
        "social_proof": pitch(
            "A customer favourite",
            "{product} is one of our customers' favourites, at {price}.",
            "A customer favourite: {product}.",
            "See why",
        ),
    },
}

# First match wins: a "high-value prospect" has not bought yet, so it reads as a prospect;
# "lapsed" and "churn" read as at-risk. Ids a clustering engine invents (``high_value_2``,
# ``lapsed_low_value``) map by these words; anything else gets the generic copy.
KIND_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("prospect", ("prospect", "new_customer", "never_bought")),
    ("at_risk", ("at_risk", "lapsed", "churn", "dormant", "inactive", "win_back")),
    ("high_value", ("high_value", "vip", "loyal", "best")),
    ("occasional", ("occasional", "casual", "low_value")),
)


class Named(Protocol):
    @property
    def segment_id(self) -> str: ...

    @property
    def name(self) -> str: ...


def segment_kind(segment: Named) -> str:
    """The library entry for ``segment``, from the words in its id and then its name."""
    for text in (segment.segment_id, segment.name):
        words = "_" + "_".join(text.lower().replace("-", " ").split()) + "_"
        for kind, keywords in KIND_KEYWORDS:
            if any(keyword in words for keyword in keywords):
                return kind
    return "generic"


def pitches_for(segment: Named) -> Mapping[Dimension, Pitch]:
    return LIBRARY[segment_kind(segment)]


def render(template: Pitch, facts: CopyFacts) -> Pitch:
    slots = {"product": facts.product_name, "price": facts.product_price, "ends": facts.offer_ends}
    return Pitch.model_validate(
        {field: text.format(**slots) for field, text in template.model_dump().items()}
    )


def library_draft(facts: CopyFacts) -> CopyDraft:
    """The offline engine: each segment's kind of copy, filled with the campaign's facts."""
    entries = []
    for segment in facts.segments:
        templates = pitches_for(segment)
        entries.append(
            SegmentPitches(
                segment_id=segment.segment_id,
                value=render(templates["value"], facts),
                urgency=render(templates["urgency"], facts),
                social_proof=render(templates["social_proof"], facts),
            )
        )
    return CopyDraft(segments=entries)
