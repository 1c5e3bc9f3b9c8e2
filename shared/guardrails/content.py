"""Guardrails for content: channel limits, CAN-SPAM, banned claims, placeholders, privacy."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from shared.events.campaigns import ContentPiece
from shared.events.common import Channel
from shared.personalisation import RENDERED_FIELDS, SEND_TIME_TOKENS

EMAIL_SUBJECT_LIMIT = 78  # RFC 5322's recommended line length; longer subjects get cut off
EMAIL_PREHEADER_LIMIT = 140  # what the widest inbox previews show
SOCIAL_BODY_LIMIT = 280
WEB_HEADLINE_LIMIT = 40

DEFAULT_BANNED_CLAIMS = (
    "guaranteed",
    "guarantee",
    "risk-free",
    "no risk",
    "100% free",
    "act now or lose",
    "once in a lifetime",
    "miracle",
    "cure",
    "no strings attached",
)

# {token}, {{ token }}, *|MERGE|*, %%token%%, [[token]]: the templating styles a writer
# (or a model) might leave behind.
PLACEHOLDER = re.compile(
    r"\{\{?\s*[A-Za-z_][\w.]*\s*\}?\}|\*\|[^|*\s]+\|\*|%%[^%\s]+%%|\[\[[^\]\s]+\]\]"
)
# The send-time token, a link that says what it is, or any link after "Unsubscribe:".
UNSUBSCRIBE_LINK = re.compile(
    r"\{unsubscribe_url\}|https?://\S*unsubscribe\S*|unsubscribe:\s*https?://\S+",
    re.IGNORECASE,
)


def check_content(
    pieces: Sequence[ContentPiece],
    *,
    banned_claims: Iterable[str],
    sender_postal_address: str,
    other_customer_data: Iterable[str] = (),
    allowed_tokens: Iterable[str] = SEND_TIME_TOKENS,
) -> list[str]:
    """Every violation in ``pieces``, each prefixed with the piece's variant id.

    ``allowed_tokens`` are the send-time tokens stored content may keep; pass none to check
    content as rendered for a recipient.
    """
    banned = [_phrase(claim) for claim in banned_claims if claim.strip()]
    private = [_phrase(value) for value in other_customer_data if value.strip()]
    allowed = set(allowed_tokens)
    violations = [
        f"{variant_id}: variant_id is used by more than one piece"
        for variant_id, count in Counter(p.variant_id for p in pieces).items()
        if count > 1
    ]
    for piece in pieces:
        found = [
            *_channel_violations(piece),
            *_can_spam_violations(piece, sender_postal_address),
            *_text_violations(piece, banned, private, allowed),
        ]
        violations.extend(f"{piece.variant_id}: {violation}" for violation in found)
    return violations


def _channel_violations(piece: ContentPiece) -> list[str]:
    limits: list[tuple[str, str | None, int]] = []
    required: list[str] = []
    if piece.channel is Channel.EMAIL:
        limits = [
            ("subject", piece.subject, EMAIL_SUBJECT_LIMIT),
            ("preheader", piece.preheader, EMAIL_PREHEADER_LIMIT),
        ]
        required = ["subject", "preheader", "call_to_action"]
    elif piece.channel is Channel.SOCIAL:
        limits = [("body", piece.body, SOCIAL_BODY_LIMIT)]
        required = ["headline"]
    else:
        limits = [("headline", piece.headline, WEB_HEADLINE_LIMIT)]
        required = ["headline"]
    violations = [
        f"{field} is {len(text)} characters, the {piece.channel.value} limit is {limit}"
        for field, text, limit in limits
        if text is not None and len(text) > limit
    ]
    violations += [
        f"{field} is missing for {piece.channel.value}"
        for field in [*required, "body"]
        if not (getattr(piece, field) or "").strip()
    ]
    return violations


def _can_spam_violations(piece: ContentPiece, sender_postal_address: str) -> list[str]:
    if piece.channel is not Channel.EMAIL:
        return []
    violations = []
    if not UNSUBSCRIBE_LINK.search(piece.body):
        violations.append("email body has no unsubscribe link")
    if not sender_postal_address.strip() or sender_postal_address not in piece.body:
        violations.append("email body lacks the sender's postal address")
    return violations


def _text_violations(
    piece: ContentPiece,
    banned: list[re.Pattern[str]],
    private: list[re.Pattern[str]],
    allowed_tokens: set[str],
) -> list[str]:
    violations = []
    for field in (*RENDERED_FIELDS, "cta_url"):
        text = getattr(piece, field)
        if text is None:
            continue
        violations += [
            f"{field} makes the banned claim {match.group(0)!r}"
            for pattern in banned
            if (match := pattern.search(text))
        ]
        violations += [
            f"{field} leaves the placeholder {token!r} unrendered"
            for token in sorted({m.group(0) for m in PLACEHOLDER.finditer(text)} - allowed_tokens)
        ]
        violations += [
            f"{field} contains another customer's data ({match.group(0)!r})"
            for pattern in private
            if (match := pattern.search(text))
        ]
    return violations


def find_banned_claims(text: str, banned_claims: Iterable[str]) -> list[str]:
    """Each banned claim ``text`` makes, as written there (whole words, any case)."""
    patterns = [_phrase(claim) for claim in banned_claims if claim.strip()]
    return [match.group(0) for pattern in patterns if (match := pattern.search(text))]


def _phrase(phrase: str) -> re.Pattern[str]:
    """``phrase`` as a whole word or words, any case, any run of spaces between words."""
    words = [re.escape(word) for word in phrase.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)
