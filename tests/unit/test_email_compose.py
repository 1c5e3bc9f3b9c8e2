"""Composing one email: personalisation, tracked links, the footer, headers that stay
readable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.launcher.domain.tracking import LinkKind, TrackingKeys
from services.launcher.email.compose import EmailComposer
from services.launcher.storage.customers import Recipient
from shared.settings import ConfigurationError
from tests.support.email_launch import LANDING_URL, email_content, scheduled

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEYS = TrackingKeys([("k1", b"k" * 32)])


def recipient(first_name: str | None) -> Recipient:
    return Recipient(
        customer_id="customer-1",
        email="ana@example.com",
        first_name=first_name,
        email_opt_in=True,
        country="US",
        timezone=None,
        as_of=NOW,
    )


def composed(first_name: str | None, body: str | None = None) -> str:
    piece = email_content("spring").content[0]
    if body is not None:
        piece = piece.model_copy(update={"body": body})
    composer = EmailComposer("Shop <offers@shop.example.com>", "https://t.example/", KEYS)
    message = composer.compose(
        scheduled("spring", "customer-1", NOW), recipient(first_name), piece, NOW
    )
    return message.as_bytes().decode()


@pytest.mark.parametrize(
    ("first_name", "greeting"), [("Ana", "Hi Ana,"), (None, "Hi there,"), ("  ", "Hi there,")]
)
def test_the_greeting_uses_the_first_name_or_a_friendly_fallback(
    first_name: str | None, greeting: str
) -> None:
    assert greeting in composed(first_name)


def test_a_name_that_looks_like_a_placeholder_is_printed_as_written() -> None:
    text = composed("{unsubscribe_url}")
    assert "Hi {unsubscribe_url}," in text


def test_the_landing_page_is_reached_only_through_the_tracked_link() -> None:
    text = composed("Ana", body=f"Hi {{first_name}}, see {LANDING_URL}")
    assert LANDING_URL not in text
    assert "https://t.example/t/k1." in text


def test_long_tracked_urls_stay_whole_on_one_header_line() -> None:
    text = composed("Ana")
    [header] = [line for line in text.splitlines() if line.startswith("List-Unsubscribe:")]
    assert header.startswith("List-Unsubscribe: <https://t.example/u/k1.")
    assert header.endswith(">")
    token = header.removesuffix(">").rsplit("/", 1)[1]
    verified = KEYS.verify(token)
    assert verified is not None
    assert verified.kind is LinkKind.UNSUBSCRIBE


def test_a_sender_without_a_domain_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="LAUNCHER_SENDER"):
        EmailComposer("offers", "https://t.example", KEYS)
