"""Content rules: variants, channel limits and tracking links."""

from urllib.parse import parse_qs, urlsplit

from services.content.domain import (
    EMAIL_SUBJECT_LIMIT,
    SOCIAL_BODY_LIMIT,
    WEB_HEADLINE_LIMIT,
    ContentBrief,
    content_for,
    fit,
    generate_content,
)
from shared.events.campaigns import CampaignPlanned, CampaignSegmented
from tests.support.factories import campaign_planned, campaign_segmented

BASE_URL = "https://shop.example.com"
LONG_NAME = ("Extraordinarily comfortable wireless noise-cancelling over-ear headphones " * 3)[:200]


def planned(**overrides: object) -> CampaignPlanned:
    return CampaignPlanned.model_validate(campaign_planned("spring", **overrides))


def segmented(**overrides: object) -> CampaignSegmented:
    return CampaignSegmented.model_validate(campaign_segmented("spring", **overrides))


def test_each_segment_and_channel_gets_a_value_led_and_an_urgency_led_variant() -> None:
    content = generate_content(planned(), segmented(), BASE_URL).content
    assert len(content) == 2 * 3 * 2  # segments x channels x variants
    by_id = {piece.variant_id: piece for piece in content}
    a, b = by_id["high_value-email-a"], by_id["high_value-email-b"]
    assert a.body != b.body
    assert a.subject != b.subject
    assert "Mar 15" in b.body  # urgency: the offer ends with the schedule
    assert "Mar 15" not in a.body


def test_only_requested_channels_get_content() -> None:
    content = generate_content(
        planned(allocation={"social": "50000.00"}), segmented(), BASE_URL
    ).content
    assert {piece.channel.value for piece in content} == {"social"}


def test_channel_limits_hold_even_for_the_longest_product_name() -> None:
    product = {
        "sku": "SKU-1",
        "name": LONG_NAME,
        "price": {"amount": "149.99", "currency": "USD"},
    }
    content = generate_content(planned(product=product), segmented(), BASE_URL).content
    for piece in content:
        if piece.channel.value == "email":
            assert piece.subject is not None
            assert len(piece.subject) <= EMAIL_SUBJECT_LIMIT
        if piece.channel.value == "social":
            assert len(piece.body) <= SOCIAL_BODY_LIMIT
        if piece.channel.value == "web":
            assert piece.headline is not None
            assert len(piece.headline) <= WEB_HEADLINE_LIMIT


def test_email_bodies_keep_the_first_name_token_for_send_time() -> None:
    content = generate_content(planned(), segmented(), BASE_URL).content
    emails = [piece for piece in content if piece.channel.value == "email"]
    assert all(piece.body.startswith("Hi {first_name},") for piece in emails)


def test_tracking_link_names_campaign_segment_channel_and_variant() -> None:
    content = generate_content(planned(), segmented(), BASE_URL).content
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


def test_a_segment_the_library_does_not_know_gets_generic_copy() -> None:
    unknown = {
        "segment_id": "cluster_7",
        "name": "Cluster 7",
        "size": 10,
        "predicted_conversion_rate": 0.1,
    }
    content = generate_content(planned(), segmented(segments=[unknown]), BASE_URL).content
    assert {piece.variant_id for piece in content} >= {"cluster_7-web-a", "cluster_7-web-b"}


def test_content_waits_for_both_the_plan_and_the_segments() -> None:
    assert content_for(ContentBrief(planned=planned()), BASE_URL) is None
    assert content_for(ContentBrief(segmented=segmented()), BASE_URL) is None
    assert content_for(ContentBrief(planned(), segmented()), BASE_URL) is not None


def test_fit_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    assert fit("short", 10) == "short"
    assert fit("Noise-cancelling headphones for everyone", 20) == "Noise-cancelling…"
    assert len(fit("x" * 50, 10)) == 10
