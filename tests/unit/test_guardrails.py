"""Guardrails: each catches its violation and lets clean output through."""

from decimal import Decimal

import pytest

from shared.events.campaigns import ContentPiece
from shared.events.common import Channel
from shared.guardrails import (
    DEFAULT_BANNED_CLAIMS,
    check_allocation,
    check_content,
    check_prediction,
)
from shared.money import Money

BUDGET = Money(amount=Decimal("1000.00"), currency="USD")
REQUESTED = (Channel.EMAIL, Channel.SOCIAL)
ADDRESS = "Example Shop, 1 Test Street, Springfield, USA"
UNSUBSCRIBE = "https://shop.example.com/unsubscribe?campaign=spring"


def allocation(email: str, social: str, **more: str) -> dict[Channel, Money]:
    amounts = {"email": email, "social": social} | more
    return {Channel(channel): Money.of(amount, "USD") for channel, amount in amounts.items()}


def allocation_violations(split: dict[Channel, Money]) -> list[str]:
    return check_allocation(split, BUDGET, REQUESTED, min_share=0.1, max_share=0.8)


def test_an_exact_split_over_requested_channels_within_limits_passes() -> None:
    assert allocation_violations(allocation("600.00", "400.00")) == []


def test_an_allocation_off_by_a_cent_is_caught() -> None:
    [violation] = allocation_violations(allocation("600.00", "399.99"))
    assert "999.99" in violation


def test_a_channel_in_another_currency_than_the_budget_is_caught() -> None:
    split = allocation("600.00", "400.00") | {Channel.SOCIAL: Money.of("400.00", "EUR")}
    violations = allocation_violations(split)
    assert "allocation[social] is in EUR, the budget in USD" in violations


def test_a_channel_that_was_not_requested_is_caught() -> None:
    violations = allocation_violations(allocation("500.00", "400.00", web="100.00"))
    assert violations == ["allocation includes web, which was not requested"]


@pytest.mark.parametrize(("email", "social"), [("950.00", "50.00"), ("1000.00", "0.00")])
def test_a_share_outside_the_limits_is_caught(email: str, social: str) -> None:
    violations = allocation_violations(allocation(email, social))
    assert any("outside the limits" in v and "email" in v for v in violations)
    assert any("outside the limits" in v and "social" in v for v in violations)


def test_a_requested_channel_left_out_counts_as_a_zero_share() -> None:
    violations = allocation_violations({Channel.EMAIL: Money.of("1000.00", "USD")})
    assert any("allocation[social] is 0.00%" in v for v in violations)


def test_a_sane_prediction_passes() -> None:
    revenue = Money(amount=Decimal("2500.00"), currency="USD")
    assert check_prediction(revenue, BUDGET, 1.5) == []


@pytest.mark.parametrize(
    ("amount", "roi", "expected"),
    [
        ("-1.00", -1.0, "negative"),
        ("60000.00", 59.0, "outside [-1.0, 50.0]"),
        ("0.00", -1.5, "outside [-1.0, 50.0]"),
        ("100.00", float("nan"), "not a finite number"),
    ],
)
def test_an_implausible_prediction_is_caught(amount: str, roi: float, expected: str) -> None:
    revenue = Money(amount=Decimal(amount), currency="USD")
    assert any(expected in v for v in check_prediction(revenue, BUDGET, roi))


def test_roi_bounds_are_configurable() -> None:
    revenue = Money(amount=Decimal("4000.00"), currency="USD")
    assert check_prediction(revenue, BUDGET, 3.0, roi_bounds=(-1.0, 2.0)) != []


def email(**overrides: str) -> ContentPiece:
    fields = {
        "segment_id": "high_value",
        "channel": "email",
        "variant_id": "high_value-email-a",
        "subject": "Made for our best customers: headphones",
        "preheader": "First access for our best customers.",
        "body": f"Hi {{first_name}},\n\nIt is here.\n\n--\nUnsubscribe: {UNSUBSCRIBE}\n{ADDRESS}",
        "call_to_action": "Get first access",
        "cta_url": "https://shop.example.com/p/SKU-1?utm_content=high_value-email-a",
    }
    return ContentPiece.model_validate(fields | overrides)


def social(**overrides: str) -> ContentPiece:
    fields = {
        "segment_id": "high_value",
        "channel": "social",
        "variant_id": "high_value-social-a",
        "headline": "Made for our best customers",
        "body": "First access to the headphones, at 149.99 USD.",
        "cta_url": "https://shop.example.com/p/SKU-1?utm_content=high_value-social-a",
    }
    return ContentPiece.model_validate(fields | overrides)


def content_violations(*pieces: ContentPiece, others: tuple[str, ...] = ()) -> list[str]:
    return check_content(
        pieces,
        banned_claims=DEFAULT_BANNED_CLAIMS,
        sender_postal_address=ADDRESS,
        other_customer_data=others,
    )


def test_clean_content_passes() -> None:
    assert content_violations(email(), social(), others=("bob@example.com", "Bob")) == []


def test_a_79_character_subject_is_caught() -> None:
    [violation] = content_violations(email(subject="x" * 79))
    assert violation == "high_value-email-a: subject is 79 characters, the email limit is 78"


def test_a_281_character_post_is_caught() -> None:
    [violation] = content_violations(social(body="y" * 281))
    assert "body is 281 characters" in violation


def test_a_41_character_web_headline_is_caught() -> None:
    web = social(channel="web", variant_id="high_value-web-a", headline="z" * 41)
    assert content_violations(web) == [
        "high_value-web-a: headline is 41 characters, the web limit is 40"
    ]


def test_an_email_without_unsubscribe_link_or_postal_address_is_caught() -> None:
    violations = content_violations(email(body="Hi {first_name}, it is here."))
    assert violations == [
        "high_value-email-a: email body has no unsubscribe link",
        "high_value-email-a: email body lacks the sender's postal address",
    ]


@pytest.mark.parametrize("claim", ["Guaranteed results", "totally RISK-FREE", "100% free gift"])
def test_a_banned_claim_is_caught_in_any_case(claim: str) -> None:
    [violation] = content_violations(social(headline=claim))
    assert "headline makes the banned claim" in violation


def test_banned_claims_match_whole_words_only() -> None:
    assert content_violations(social(body="A secure, curated pick.")) == []


@pytest.mark.parametrize("leftover", ["{discount_code}", "{{ last_name }}", "*|FNAME|*"])
def test_a_placeholder_left_unrendered_is_caught(leftover: str) -> None:
    [violation] = content_violations(social(body=f"Use {leftover} today."))
    assert f"leaves the placeholder {leftover!r} unrendered" in violation


def test_first_name_is_allowed_until_send_time_only() -> None:
    piece = email()
    assert content_violations(piece) == []
    rendered = check_content(
        [piece], banned_claims=(), sender_postal_address=ADDRESS, allowed_tokens=()
    )
    assert rendered == ["high_value-email-a: body leaves the placeholder '{first_name}' unrendered"]


def test_another_customers_email_or_name_is_caught() -> None:
    piece = social(body="Ana.Lopez@example.com just bought this, and so did Bob Smith.")
    violations = content_violations(piece, others=("ana.lopez@example.com", "Bob Smith"))
    assert violations == [
        "high_value-social-a: body contains another customer's data ('Ana.Lopez@example.com')",
        "high_value-social-a: body contains another customer's data ('Bob Smith')",
    ]


def test_an_email_missing_its_subject_is_caught() -> None:
    violations = content_violations(email(subject=""))
    assert violations == ["high_value-email-a: subject is missing for email"]


def test_two_pieces_with_one_variant_id_are_caught() -> None:
    violations = content_violations(social(), social())
    assert violations == ["high_value-social-a: variant_id is used by more than one piece"]


@pytest.mark.parametrize(
    "footer",
    [
        "Unsubscribe: {unsubscribe_url}",
        "Unsubscribe: https://t.shop.example.com/u/t1.abc.def",
        "Opt out at https://shop.example.com/unsubscribe",
    ],
)
def test_an_unsubscribe_token_or_link_satisfies_can_spam(footer: str) -> None:
    body = f"Hi {{first_name}}, it is here.\n--\n{footer}\n{ADDRESS}"
    assert content_violations(email(body=body)) == []
