"""What a launch buys: one ad set per segment x variant on each paid channel, and each
channel's allocation split among them, never more than allocated."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.launcher.ads.allocation import plan_ad_sets, split
from services.launcher.domain.brief import LaunchBrief
from shared.events.campaigns import CampaignPlanned, CampaignSegmented, ContentPiece
from shared.events.common import Channel
from shared.money import MINOR_UNITS, Money, sum_money
from tests.support.ad_briefs import PAID_CONTENT, ad_piece, paid_brief
from tests.support.factories import campaign_planned, campaign_segmented

BIDS = {Channel.SOCIAL: Decimal("9"), Channel.WEB: Decimal("6.125")}


def brief(content: list[ContentPiece], **planned: Any) -> LaunchBrief:
    return paid_brief("spring", tuple(content), **planned)


CONTENT = list(PAID_CONTENT)
piece = ad_piece


def test_one_ad_set_per_segment_and_variant_on_each_paid_channel_and_none_for_email() -> None:
    planned = plan_ad_sets(brief(CONTENT), BIDS)
    assert [p.key for p in planned] == [
        "spring/high_value/high_value-social-a/social",
        "spring/high_value/high_value-social-b/social",
        "spring/at_risk/at_risk-social-a/social",
        "spring/high_value/high_value-web-a/web",
        "spring/at_risk/at_risk-web-a/web",
        "spring/at_risk/at_risk-web-b/web",
    ]


def test_a_channel_is_split_by_segment_size_then_evenly_across_its_variants() -> None:
    # social 17,500.00: high_value (1,000 people) a third, at_risk (2,000) two thirds; the
    # two cents the exact shares leave go to the first of the equal remainders.
    budgets = {p.key: p.budget for p in plan_ad_sets(brief(CONTENT), BIDS)}
    usd = lambda amount: Money.of(amount, "USD")  # noqa: E731
    assert budgets["spring/high_value/high_value-social-a/social"] == usd("2916.67")
    assert budgets["spring/high_value/high_value-social-b/social"] == usd("2916.67")
    assert budgets["spring/at_risk/at_risk-social-a/social"] == usd("11666.66")
    assert budgets["spring/high_value/high_value-web-a/web"] == usd("4166.67")
    assert budgets["spring/at_risk/at_risk-web-a/web"] == usd("4166.67")
    assert budgets["spring/at_risk/at_risk-web-b/web"] == usd("4166.66")
    for channel in (Channel.SOCIAL, Channel.WEB):
        on_channel = [p.budget for p in plan_ad_sets(brief(CONTENT), BIDS) if p.channel is channel]
        assert sum_money(on_channel, "USD") == usd({"social": "17500", "web": "12500"}[channel])


def test_a_segment_without_a_variant_on_a_channel_leaves_its_share_to_the_others() -> None:
    content = [piece("high_value", "social", "a")]
    [only] = plan_ad_sets(brief(content), BIDS)
    assert only.budget == Money.of("17500.00", "USD")


def test_bids_are_in_the_campaign_currency_rounded_to_its_minor_unit() -> None:
    yen = {"budget": {"amount": "50000", "currency": "JPY"}}
    planned = plan_ad_sets(brief(CONTENT, **yen), BIDS)
    assert {p.channel: p.bid for p in planned} == {
        Channel.SOCIAL: Money.of("9", "JPY"),
        Channel.WEB: Money.of("6", "JPY"),
    }
    usd = plan_ad_sets(brief(CONTENT), BIDS)
    assert {p.bid for p in usd if p.channel is Channel.WEB} == {Money.of("6.13", "USD")}


def test_the_creative_is_the_piece_with_no_one_named_and_its_own_landing_url() -> None:
    first = plan_ad_sets(brief(CONTENT), BIDS)[0]
    creative = first.creative(fallback_headline="Headphones")
    assert creative.body == "Hi there, quiet wherever you are."
    assert creative.headline == "high_value a"
    assert creative.landing_url == "https://shop.example.com/p/1?utm_source=social"
    bare = plan_ad_sets(brief([piece("at_risk", "web", "a", headline=None)]), BIDS)[0]
    assert bare.creative(fallback_headline="Headphones").headline == "Headphones"


def test_nothing_is_bought_for_a_plan_without_paid_channels() -> None:
    email_only = {"allocation": {"email": {"amount": "50000.00", "currency": "USD"}}}
    assert plan_ad_sets(brief(CONTENT, **email_only), BIDS) == []


@given(
    cents=st.integers(min_value=0, max_value=10**12),
    weights=st.lists(st.fractions(min_value=0, max_value=10**6), min_size=1, max_size=40),
    currency=st.sampled_from(sorted(MINOR_UNITS)),
)
def test_a_split_adds_up_to_the_total_and_each_part_is_within_a_unit_of_its_share(
    cents: int, weights: list[Fraction], currency: str
) -> None:
    total = Money(amount=Decimal(cents).scaleb(-MINOR_UNITS[currency]), currency=currency)
    parts = split(total, weights)
    assert len(parts) == len(weights)
    assert all(part.amount >= 0 for part in parts)
    if sum(weights) == 0:
        assert all(part.amount == 0 for part in parts)
        return
    assert sum_money(parts, currency) == total
    unit = Decimal(1).scaleb(-MINOR_UNITS[currency])
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total.amount) * weight / sum(weights)
        assert abs(Fraction(part.amount) - exact) < Fraction(unit)


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=6),
    variants=st.lists(st.integers(min_value=1, max_value=4), min_size=6, max_size=6),
    social=st.decimals(min_value=0, max_value=10**9, places=2),
)
def test_every_channel_s_ad_sets_cost_at_most_its_allocation(
    sizes: list[int], variants: list[int], social: Decimal
) -> None:
    segments = [
        {"segment_id": f"s{i}", "name": f"S{i}", "size": size, "predicted_conversion_rate": 0.1}
        for i, size in enumerate(sizes)
    ]
    content = [
        piece(f"s{i}", "social", letter)
        for i in range(len(sizes))
        for letter in "abcd"[: variants[i]]
    ]
    allocation = {"social": {"amount": str(social), "currency": "USD"}}
    launch = LaunchBrief(
        campaign_id="spring",
        planned=CampaignPlanned.model_validate(campaign_planned("spring", allocation=allocation)),
        segmented=CampaignSegmented.model_validate(campaign_segmented("spring", segments=segments)),
        content=content,
    )
    planned = plan_ad_sets(launch, BIDS)
    spent = sum_money([p.budget for p in planned], "USD")
    assert spent <= Money.of(social, "USD")
    if social > 0:
        assert spent == Money.of(social, "USD")  # nothing left unspent by rounding
    assert len(planned) <= sum(variants[: len(sizes)])
    assert max(Counter(p.key for p in planned).values(), default=1) == 1
