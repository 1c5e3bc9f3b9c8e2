"""A segment naming: the words an engine gives each computed segment, and the rules they keep.

The rules hold whichever engine answered: every computed segment named exactly once and no
other, names distinct and short enough for a report's column, descriptions and strategies
bounded, no banned claim, and nothing that identifies a customer (an email address or a
customer id).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Container, Iterable, Sequence

from pydantic import BaseModel, Field

from services.segmenter.id_filter import MIN_CHECKED_ID_LENGTH
from shared.guardrails import find_banned_claims

NAME_LIMIT = 60
DESCRIPTION_LIMIT = 300
STRATEGY_LIMIT = 400

EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
TOKEN = re.compile(r"[\w@.+:/-]+")


class SegmentWording(BaseModel):
    segment_id: str = Field(description="One of the given segment ids, exactly as given.")
    name: str = Field(description=f"At most {NAME_LIMIT} characters.")
    description: str = Field(description=f"At most {DESCRIPTION_LIMIT} characters.")
    strategy: str | None = Field(
        description=f"At most {STRATEGY_LIMIT} characters, or null when there is none."
    )


class SegmentNaming(BaseModel):
    segments: list[SegmentWording] = Field(description="One entry per given segment.")


def naming_violations(
    wordings: Sequence[SegmentWording],
    segment_ids: Sequence[str],
    customer_ids: Container[str],
    banned_claims: Iterable[str],
) -> list[str]:
    """Every rule ``wordings`` break, each naming the segment and the field."""
    claims = list(banned_claims)
    named = Counter(w.segment_id for w in wordings)
    violations = [f"{i} is not a given segment id" for i in named if i not in segment_ids]
    violations += [f"{i} is named {n} times, not once" for i, n in named.items() if n > 1]
    violations += [f"{i} is not named" for i in segment_ids if i not in named]
    names = Counter(w.name.strip().casefold() for w in wordings)
    for wording in wordings:
        found = _length_violations(wording)
        if names[wording.name.strip().casefold()] > 1:
            found.append(f"name {wording.name!r} is also another segment's name")
        for field, text in _texts(wording):
            found += _text_violations(field, text, claims, customer_ids)
        violations += [f"{wording.segment_id}: {violation}" for violation in found]
    return violations


def _texts(wording: SegmentWording) -> list[tuple[str, str]]:
    texts = [("name", wording.name), ("description", wording.description)]
    return texts + ([("strategy", wording.strategy)] if wording.strategy is not None else [])


def _length_violations(wording: SegmentWording) -> list[str]:
    found = [
        f"{field} is {len(text)} characters, the limit is {limit}"
        for field, text, limit in (
            ("name", wording.name, NAME_LIMIT),
            ("description", wording.description, DESCRIPTION_LIMIT),
            ("strategy", wording.strategy or "", STRATEGY_LIMIT),
        )
        if len(text) > limit
    ]
    found += [
        f"{field} is empty"
        for field, text in _texts(wording)
        if field != "strategy" and not text.strip()
    ]
    if wording.strategy is not None and not wording.strategy.strip():
        found.append("strategy is empty; give null when there is none")
    return found


def _text_violations(
    field: str, text: str, banned_claims: list[str], customer_ids: Container[str]
) -> list[str]:
    found = [
        f"{field} makes the banned claim {claim!r}"
        for claim in find_banned_claims(text, banned_claims)
    ]
    if EMAIL_ADDRESS.search(text):
        found.append(f"{field} contains an email address")
    tokens = {token.strip(".:/-") for token in TOKEN.findall(text)}
    # Shorter ids ("12", "ana") are indistinguishable from the figures and words of any text.
    if any(len(t) >= MIN_CHECKED_ID_LENGTH and t in customer_ids for t in tokens):
        found.append(f"{field} contains a customer id")
    return found
