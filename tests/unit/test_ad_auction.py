"""The sandbox exchange's market: second-price auctions, the floor, budgets that are never
overspent, and runs a seed replays exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.devstack.ad_auction import AdMarket, AdSet, PlatformMarket, clearing_price

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def market(seed: int = 1, **platform: PlatformMarket) -> AdMarket:
    markets = platform or {"facebook": PlatformMarket(20, floor=100, competitor_bids=(200, 800))}
    return AdMarket(now=START, seed=seed, markets=markets)


def bidding(
    on: AdMarket,
    bid: int,
    budget: int,
    *,
    kind: str = "lifetime",
    name: str = "c/s/v/social",
    ends: datetime | None = None,
) -> AdSet:
    adset = AdSet(
        id=on.new_id(),
        account="act_test",
        name=name,
        campaign_id="campaign",
        platforms=tuple(on.markets),
        bid=bid,
        budget_kind=kind,
        budget=budget,
        status="ACTIVE",
        start=None,
        end=ends,
    )
    on.ad_sets[adset.id] = adset
    on.add_ad(adset, name, "https://shop.example.com/p/1?utm_source=social")
    return adset


def test_the_winner_pays_the_second_highest_bid_or_the_floor_when_higher() -> None:
    assert clearing_price([900, 450, 300], floor=100) == 450
    assert clearing_price([900, 90], floor=100) == 100
    assert clearing_price([900], floor=100) == 100


def test_every_impression_costs_a_thousandth_of_the_second_price() -> None:
    # Competitors always bid 400: the ad set bidding 1000 wins each auction and pays 400 CPM.
    fixed = market(facebook=PlatformMarket(10, floor=100, competitor_bids=(400, 400)))
    adset = bidding(fixed, bid=1000, budget=1_000_000)
    fixed.advance(60)
    assert adset.impressions == 600
    assert adset.spend == 600 * Decimal("0.4")


def test_with_competitors_under_the_floor_the_winner_pays_the_floor() -> None:
    quiet = market(facebook=PlatformMarket(10, floor=150, competitor_bids=(10, 140)))
    adset = bidding(quiet, bid=1000, budget=1_000_000)
    quiet.advance(10)
    assert adset.impressions == 100
    assert adset.spend == 100 * Decimal("0.15")


def test_a_bid_under_the_floor_takes_no_part() -> None:
    floored = market(facebook=PlatformMarket(10, floor=500, competitor_bids=(10, 20)))
    adset = bidding(floored, bid=499, budget=1_000_000)
    floored.advance(60)
    assert (adset.impressions, adset.spend) == (0, 0)


def test_outbid_ad_sets_win_nothing() -> None:
    crowded = market(facebook=PlatformMarket(10, floor=100, competitor_bids=(900, 1000)))
    adset = bidding(crowded, bid=800, budget=1_000_000)
    crowded.advance(60)
    assert adset.impressions == 0


def test_a_seed_replays_the_same_auctions_clicks_and_spend_under_fresh_click_ids() -> None:
    def run(seed: int, namespace: bytes | None = None) -> list[tuple[int, Decimal, list[str]]]:
        replayed = market(seed)
        if namespace is not None:
            replayed.click_namespace = namespace
        ad_sets = [bidding(replayed, bid, 50_000, name=f"v{bid}") for bid in (300, 600, 900)]
        replayed.advance(900)
        return [(a.impressions, a.spend, [c.click_id for c in a.clicks]) for a in ad_sets]

    def without_ids(
        runs: list[tuple[int, Decimal, list[str]]],
    ) -> list[tuple[int, Decimal, int]]:
        return [(impressions, spend, len(ids)) for impressions, spend, ids in runs]

    first, again = run(seed=42), run(seed=42)
    assert without_ids(first) == without_ids(again)
    assert without_ids(run(seed=42)) != without_ids(run(seed=43))
    assert any(ids for _, _, ids in first)
    # A restarted exchange never repeats a click id of an earlier run...
    assert not {i for _, _, ids in first for i in ids} & {i for _, _, ids in again for i in ids}
    # ...unless the replay is given the namespace too.
    assert run(42, b"n" * 16) == run(42, b"n" * 16)


def test_clicks_carry_a_url_safe_id_and_the_landing_url_with_it_as_cid() -> None:
    clicking = market(facebook=PlatformMarket(50, floor=100, competitor_bids=(100, 200)))
    adset = bidding(clicking, bid=1000, budget=1_000_000)
    clicking.advance(600)
    assert adset.clicks
    for click in adset.clicks:
        assert click.click_id.replace("-", "").replace("_", "").isalnum()
        assert click.landing_url.endswith(f"?utm_source=social&cid={click.click_id}")
        assert START <= click.at < clicking.now


def test_an_ad_set_serves_nothing_after_its_end() -> None:
    ending = market()
    adset = bidding(ending, bid=5000, budget=1_000_000, ends=START + timedelta(seconds=30))
    ending.advance(120)
    assert adset.impressions == 30 * 20  # every opportunity up to its end, none after


@settings(max_examples=25, deadline=None)
@given(
    budgets=st.lists(st.integers(min_value=1, max_value=600), min_size=1, max_size=5),
    bids=st.lists(st.integers(min_value=50, max_value=5000), min_size=5, max_size=5),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_no_lifetime_budget_is_ever_overspent(
    budgets: list[int], bids: list[int], seed: int
) -> None:
    long = market(seed, facebook=PlatformMarket(20, floor=100, competitor_bids=(100, 1500)))
    ad_sets = [bidding(long, bid, budget) for bid, budget in zip(bids, budgets, strict=False)]
    long.advance(600)
    for adset in ad_sets:
        assert adset.spend <= adset.budget
        assert adset.spend == sum(adset.spend_by_day.values())
    assert sum(a.spend for a in ad_sets) <= sum(budgets)


@settings(max_examples=15, deadline=None)
@given(
    daily=st.integers(min_value=1, max_value=500),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_a_daily_budget_caps_each_day_and_starts_afresh_the_next(daily: int, seed: int) -> None:
    days = market(seed, facebook=PlatformMarket(1, floor=100, competitor_bids=(100, 400)))
    days.now = START.replace(hour=23, minute=40)
    adset = bidding(days, bid=2000, budget=daily, kind="daily")
    days.advance(40 * 60)  # twenty minutes either side of midnight
    assert all(spent <= daily for spent in adset.spend_by_day.values())
    assert len(adset.spend_by_day) == 2
