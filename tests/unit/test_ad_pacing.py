"""Budget pacing against the sandbox exchange's market (seeded second-price auctions): over
a simulated day, hour by hour, the controller never spends past the budget, adds nothing
to what the first (uncontrolled) hour ran ahead of plan, and ends near the plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.launcher.domain.pacing import Flight, Pacing, SpendSeen
from shared.devstack.ad_auction import AdMarket, AdSet, PlatformMarket

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
DAY = Flight(START, START + timedelta(hours=24))
CENT = Decimal("0.01")
LAUNCH_BID = Decimal("9.00")  # also the ceiling: the most the ad set may bid
# One auction a second: a day's 86,400 auctions stay quick; at the launch bid the ad set
# spends about 7 a hour, several times what any budget here plans for.
ONE_A_SECOND = {"facebook": PlatformMarket(1, floor=150, competitor_bids=(200, 1200))}


@dataclass
class Hour:
    spent: Decimal
    planned: Decimal
    bid: Decimal


def simulated_day(seed: int, budget: Decimal, pacing: Pacing | None) -> list[Hour]:
    """24 hours of the market; each hour's end, the controller (if any) sets the next bid."""
    market = AdMarket(now=START, seed=seed, markets=ONE_A_SECOND)
    ad_set = AdSet(
        id=market.new_id(),
        account="act_pacing",
        name=f"c/s/v-{seed}/social",
        campaign_id="c",
        platforms=("facebook",),
        bid=int(LAUNCH_BID / CENT),
        budget_kind="lifetime",
        budget=int(budget / CENT),
        status="ACTIVE",
        start=DAY.starts_at,
        end=DAY.ends_at,
    )
    market.ad_sets[ad_set.id] = ad_set
    market.add_ad(ad_set, ad_set.name, "https://shop.example.com/p/1")
    previous, bid, hours = SpendSeen(START, Decimal(0)), LAUNCH_BID, []
    for _ in range(24):
        market.advance(3600)
        now = SpendSeen(market.now, ad_set.spend * CENT)  # the market counts in cents
        hours.append(Hour(now.spent, budget * DAY.planned_share(market.now), bid))
        if pacing is not None:
            bid = pacing.next_bid(
                bid=bid,
                ceiling=LAUNCH_BID,
                unit=CENT,
                budget=budget,
                flight=DAY,
                previous=previous,
                now=now,
            ).bid
            ad_set.bid = int(bid / CENT)
        previous = now
    return hours


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("budget", [Decimal("20.00"), Decimal("80.00")])
def test_pacing_never_overspends_in_a_simulated_day_and_ends_near_the_plan(
    seed: int, budget: Decimal
) -> None:
    hours = simulated_day(seed, budget, Pacing())
    first_hour_ahead = hours[0].spent - hours[0].planned
    for hour in hours:
        assert hour.spent <= budget
        assert CENT <= hour.bid <= LAUNCH_BID
        # The first hour runs at the launch bid, before any control: past it, the spend
        # never gets further ahead of the plan than that hour put it.
        assert hour.spent - hour.planned <= first_hour_ahead + budget * Decimal("0.05")
    assert hours[-1].spent >= budget * Decimal("0.9")  # the plan at the end: all of it


def test_without_pacing_the_same_day_spends_the_budget_hours_early() -> None:
    hours = simulated_day(seed=1, budget=Decimal("50.00"), pacing=None)
    spent_out = next(i for i, hour in enumerate(hours) if hour.spent > Decimal("49.00"))
    assert spent_out < 12


def test_behind_plan_bids_up_ahead_bids_down_each_within_one_step() -> None:
    pacing, start = Pacing(), SpendSeen(START, Decimal(0))
    at_noon = START + timedelta(hours=12)

    def bid_at(spent: str, bid: str = "4.00") -> Decimal:
        noon = SpendSeen(at_noon, Decimal(spent))
        change = pacing.next_bid(
            bid=Decimal(bid),
            ceiling=LAUNCH_BID,
            unit=CENT,
            budget=Decimal(100),
            flight=DAY,
            previous=start,
            now=noon,
        )
        return change.bid

    assert bid_at("50.00") == Decimal("4.00")  # on plan
    assert Decimal("4.00") < bid_at("30.00") <= Decimal("8.00")
    assert Decimal("2.00") <= bid_at("70.00") < Decimal("4.00")
    assert bid_at("0.00") == Decimal("8.00")  # nothing spent: a whole step up
    assert bid_at("0.00", bid="6.00") == LAUNCH_BID  # never past the ceiling


def test_with_the_budget_nearly_spent_pacing_stops_bidding_up() -> None:
    pacing = Pacing(thin_share=Decimal("0.05"))
    change = pacing.next_bid(
        bid=Decimal("4.00"),
        ceiling=LAUNCH_BID,
        unit=CENT,
        budget=Decimal(100),
        flight=DAY,
        previous=SpendSeen(START + timedelta(hours=22), Decimal("96.00")),
        now=SpendSeen(START + timedelta(hours=23), Decimal("96.00")),
    )
    assert change.bid == Decimal("4.00")
    assert "budget left thin" in change.reason
    spent = pacing.next_bid(
        bid=Decimal("4.00"),
        ceiling=LAUNCH_BID,
        unit=CENT,
        budget=Decimal(100),
        flight=DAY,
        previous=SpendSeen(START, Decimal(0)),
        now=SpendSeen(START + timedelta(hours=3), Decimal(100)),
    )
    assert spent.bid == Decimal("4.00")
    assert "spent" in spent.reason
