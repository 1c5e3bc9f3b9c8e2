"""Send-time personalisation: tokens stored in content, rendered once per recipient.

Content is written once per segment and sent to many people, so anything personal stays a
token until the launcher knows the recipient: ``{first_name}``, and ``{unsubscribe_url}``,
the recipient's own signed unsubscribe link in the footer. A missing or blank name renders
as a friendly fallback rather than an empty greeting.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.events.campaigns import ContentPiece

FIRST_NAME = "{first_name}"
UNSUBSCRIBE_URL = "{unsubscribe_url}"
FIRST_NAME_FALLBACK = "there"
SEND_TIME_TOKENS = (FIRST_NAME, UNSUBSCRIBE_URL)
RENDERED_FIELDS = ("subject", "preheader", "headline", "body", "call_to_action")


def render_for_recipient(
    piece: ContentPiece, first_name: str | None, unsubscribe_url: str
) -> ContentPiece:
    """The piece as one recipient reads it: every send-time token replaced."""
    name = (first_name or "").strip() or FIRST_NAME_FALLBACK
    # The name goes in last, so a name that looks like a token stays a name.
    values = {UNSUBSCRIBE_URL: unsubscribe_url, FIRST_NAME: name}
    update = {
        field: _render(text, values)
        for field in RENDERED_FIELDS
        if (text := getattr(piece, field)) is not None
    }
    return piece.model_copy(update=update)


def _render(text: str, values: Mapping[str, str]) -> str:
    # str.replace, not str.format: a name such as "{x}" must not be read as a template.
    for token, value in values.items():
        text = text.replace(token, value)
    return text
