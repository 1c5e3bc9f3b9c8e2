"""Guardrails every engine's output passes, whichever engine (model or offline) made it.

Each check is a pure function returning human-readable violations, empty when the output
is fine, so the AI runner can list them in a re-ask and a service can log them.
"""

from shared.guardrails.content import (
    DEFAULT_BANNED_CLAIMS,
    EMAIL_PREHEADER_LIMIT,
    EMAIL_SUBJECT_LIMIT,
    SOCIAL_BODY_LIMIT,
    WEB_HEADLINE_LIMIT,
    check_content,
    find_banned_claims,
)
from shared.guardrails.plans import (
    DEFAULT_ROI_BOUNDS,
    check_allocation,
    check_prediction,
)

__all__ = [
    "DEFAULT_BANNED_CLAIMS",
    "DEFAULT_ROI_BOUNDS",
    "EMAIL_PREHEADER_LIMIT",
    "EMAIL_SUBJECT_LIMIT",
    "SOCIAL_BODY_LIMIT",
    "WEB_HEADLINE_LIMIT",
    "check_allocation",
    "check_content",
    "check_prediction",
    "find_banned_claims",
]
