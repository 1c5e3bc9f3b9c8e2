"""Content rules: variants, channel limits, CAN-SPAM footer, personalisation, tracking links."""

from itertools import product as combinations
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from services.content.domain import (
    Sender,
    fit,
    generate_content,
    vet,
)
from services.content.settings import ContentSettings
from services.content.templates import segment_kind
from shared.events.campaigns import CampaignPlanned, CampaignSegmented, Segment
from shared.guardrails import (
    DEFAULT_BANNED_CLAIMS,
    EMAIL_SUBJECT_LIMIT,
    SOCIAL_BODY_LIMIT,
    WEB_HEADLINE_LIMIT,
    check_content,
)
from shared.personalisation import render_for_recipient
from tests.support.factories import campaign_planned, campaign_segmented, money

BASE_URL = "https://shop.example.com"
ADDRESS = "Example Shop, 1 Test Street, Springfield, USA"
SENDER = Sender(
    landing_base_url=BASE_URL,
    postal_address=ADDRESS,
    banned_claims=DEFAULT_BANNED_CLAIMS,
)
LONG_NAME = ("Extraordinarily comfortable wireless noise-cancelling over-ear headphones " * 3)[:200]
SEGMENT_IDS = (
    "high_value",
    "occasional",
    "at_risk",
    "lapsed_low_value",
    "engaged_prospects",
    "new_prospects",
    "high_value_2",
    "cluster_7",
)


def planned(**overrides: object) -> CampaignPlanned:
    return CampaignPlanned.model_validate(campaign_planned("spring", **overrides))


def segmented(**overrides: object) -> CampaignSegmented:
    return CampaignSegmented.model_validate(campaign_segmented("spring", **overrides))


def segment(segment_id: str, name: str = "Some customers") -> dict[str, object]:
    return {"segment_id": segment_id, "name": name, "size": 10, "predicted_conversion_rate": 0.1}


def every_kind_of_segment() -> CampaignSegmented:
    return segmented(segments=[segment(s) for s in SEGMENT_IDS])


def long_named_product(name: str = LONG_NAME) -> dict[str, object]:
    return {"sku": "SKU-1", "name": name, "price": {"amount": "149.99", "currency": "USD"}}


def test_each_segment_and_channel_gets_value_urgency_and_social_proof_variants() -> None:
    content = generate_content(planned(), every_kind_of_segment(), SENDER).content
    assert len(content) == len(SEGMENT_IDS) * 3 * 3  # segments x channels x variants
    for segment_id, channel in combinations(SEGMENT_IDS, ("email", "social", "web")):
        variants = [p for p in content if p.segment_id == segment_id and p.channel == channel]
        assert [p.variant_id for p in variants] == [
            f"{segment_id}-{channel}-{letter}" for letter in "abc"
        ]
        assert [p.dimension for p in variants] == ["value", "urgency", "social_proof"]
        assert len({p.body for p in variants}) == 3


def test_the_urgency_variant_names_the_end_of_the_offer() -> None:
    by_id = {p.variant_id: p for p in generate_content(planned(), segmented(), SENDER).content}
    assert "Mar 15" in by_id["high_value-email-b"].body
    assert "Mar 15" not in by_id["high_value-email-a"].body


@pytest.mark.parametrize(
    ("segment_id", "name", "kind"),
    [
        ("lapsed_low_value", "Lapsed low-value buyers", "at_risk"),
        ("high_value_prospects", "High-value prospects", "prospect"),
        ("high_value_2", "High-value customers (2)", "high_value"),
        ("cluster_3", "Occasional buyers", "occasional"),
        ("cluster_7", "Cluster 7", "generic"),
    ],
)
def test_copy_is_chosen_by_the_words_in_the_segment_id_then_its_name(
    segment_id: str, name: str, kind: str
) -> None:
    assert segment_kind(Segment.model_validate(segment(segment_id, name))) == kind


def test_only_requested_channels_get_content() -> None:
    content = generate_content(
        planned(allocation={"social": money("50000.00")}), segmented(), SENDER
    ).content
    assert {piece.channel.value for piece in content} == {"social"}


def test_channel_limits_hold_even_for_the_longest_product_name() -> None:
    product = long_named_product()
    content = generate_content(planned(product=product), every_kind_of_segment(), SENDER).content
    for piece in content:
        if piece.channel.value == "email":
            assert piece.subject is not None
            assert len(piece.subject) <= EMAIL_SUBJECT_LIMIT
        if piece.channel.value == "social":
            assert len(piece.body) <= SOCIAL_BODY_LIMIT
        if piece.channel.value == "web":
            assert piece.headline is not None
            assert len(piece.headline) <= WEB_HEADLINE_LIMIT


@pytest.mark.parametrize(
    "name",
    [
        "Headphones",
        LONG_NAME,
        "x" * 200,
        ("Ultra " + "wide " * 39)[:200],
        "Wireless earbuds, 2-pack",
    ],
)
def test_the_offline_library_passes_every_guardrail(name: str) -> None:
    content = generate_content(
        planned(product=long_named_product(name)), every_kind_of_segment(), SENDER
    )
    assert (
        check_content(
            content.content, banned_claims=DEFAULT_BANNED_CLAIMS, sender_postal_address=ADDRESS
        )
        == []
    )
    assert vet(content, SENDER) == (content, [])


def test_a_product_whose_name_makes_a_banned_claim_loses_its_pieces() -> None:
    content = generate_content(
        planned(product=long_named_product("Guaranteed results serum")), segmented(), SENDER
    )
    kept, dropped = vet(content, SENDER)
    assert kept.content == [
        p for p in content.content if p.variant_id not in {d.variant_id for d in dropped}
    ]
    assert dropped
    assert all("guaranteed" in " ".join(d.violations).lower() for d in dropped)


def test_every_email_carries_an_unsubscribe_link_and_the_postal_address() -> None:
    content = generate_content(planned(), every_kind_of_segment(), SENDER).content
    emails = [piece for piece in content if piece.channel.value == "email"]
    for email in emails:
        # Each recipient's own signed link, rendered by the launcher at send time.
        assert "Unsubscribe: {unsubscribe_url}" in email.body
        assert ADDRESS in email.body
        assert email.preheader
        assert email.call_to_action


def test_email_bodies_keep_the_first_name_token_for_send_time() -> None:
    content = generate_content(planned(), segmented(), SENDER).content
    emails = [piece for piece in content if piece.channel.value == "email"]
    assert all(piece.body.startswith("Hi {first_name},") for piece in emails)


@pytest.mark.parametrize(
    ("first_name", "greeting"), [("Ana", "Hi Ana,"), (None, "Hi there,"), ("  ", "Hi there,")]
)
def test_rendering_for_a_recipient_fills_the_name_or_falls_back(
    first_name: str | None, greeting: str
) -> None:
    content = generate_content(planned(), every_kind_of_segment(), SENDER).content
    link = "https://t.shop.example.com/u/t1.abc.def"
    rendered = [render_for_recipient(piece, first_name, link) for piece in content]
    emails = [p for p in rendered if p.channel.value == "email"]
    assert all(p.body.startswith(greeting) and f"Unsubscribe: {link}" in p.body for p in emails)
    assert (
        check_content(
            rendered,
            banned_claims=DEFAULT_BANNED_CLAIMS,
            sender_postal_address=ADDRESS,
            allowed_tokens=(),
        )
        == []
    )


def test_tracking_link_names_campaign_segment_channel_and_variant() -> None:
    content = generate_content(planned(), segmented(), SENDER).content
    piece = next(p for p in content if p.variant_id == "at_risk-social-b")
    url = urlsplit(piece.cta_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{BASE_URL}/p/SKU-HEADPHONES-01"
    assert parse_qs(url.query) == {
        "utm_source": ["social"],
        "utm_medium": ["paid_social"],
        "utm_campaign": ["spring"],
        "utm_content": ["at_risk-social-b"],
        "seg": ["at_risk"],
    }


def test_fit_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    assert fit("short", 10) == "short"
    assert fit("Noise-cancelling headphones for everyone", 20) == "Noise-cancelling…"
    assert len(fit("x" * 50, 10)) == 10


def test_the_example_postal_address_is_refused_outside_local_mode() -> None:
    keyed = {"environment": "production", "analytics_api_key": "k" * 32}
    with pytest.raises(ValidationError, match="CONTENT_SENDER_POSTAL_ADDRESS"):
        ContentSettings(**keyed)
    real = "Shop Ltd, 1 Main Street, Springfield, USA"
    assert ContentSettings(**keyed, content_sender_postal_address=real)
