"""The target-CPA (and target-ROAS) bid rule: it reaches the bid that buys conversions at
the target in a stationary market within a few cycles, moves at most one step per cycle,
never past the maximum bid, and holds while data is thin."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.launcher.domain.bidding import AdSetPerformance, BidStrategy, TargetBidding
from services.launcher.settings import LauncherSettings
from shared.events.common import Channel

CENT = Decimal("0.01")
PRICE = Decimal("80.00")


def rules(**overrides: object) -> TargetBidding:
    values: dict[str, object] = {
        "strategy": BidStrategy.TARGET_CPA,
        "target_roas": Decimal(2),
        "target_cpa": Decimal(20),
        "min_clicks": 200,
        "max_step": Decimal(2),
        "max_bid": Decimal(18),
        "min_bid": CENT,
    }
    return TargetBidding(**(values | overrides))  # type: ignore[arg-type]


def seen(impressions: int, clicks: int, conversions: int, net: str = "0") -> AdSetPerformance:
    return AdSetPerformance(
        impressions=impressions,
        clicks=clicks,
        tracked_clicks=clicks,
        conversions=conversions,
        net=Decimal(net),
    )


class StationaryMarket:
    """Every impression is clicked at 1% and every click converts at 5%, drawn with a seed;
    the ad set's figures are running totals, as its report and the arm's are."""

    CTR, CONVERSION = 0.01, 0.05

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self.total = seen(0, 0, 0)

    def cycle(self, impressions: int) -> AdSetPerformance:
        clicks = self._rng.binomialvariate(impressions, self.CTR)
        conversions = self._rng.binomialvariate(clicks, self.CONVERSION)
        t = self.total
        self.total = seen(
            t.impressions + impressions, t.clicks + clicks, t.conversions + conversions
        )
        return self.total


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("start", [Decimal("1.50"), Decimal("18.00")])
def test_the_bid_reaches_the_target_cpa_in_a_stationary_market_within_a_few_cycles(
    seed: int, start: Decimal
) -> None:
    # The bid that buys conversions at 20: 1000 x 1% x 5% x 20 = 10.00 per thousand.
    market, bidding, bid = StationaryMarket(seed), rules(), start
    for _ in range(5):
        bid = bidding.next_bid(bid, market.cycle(200_000), PRICE).bid
    assert abs(bid - Decimal(10)) <= Decimal("1.2")  # ~500 conversions: ~5% noise
    # Paying the whole bid (the most a second-price auction charges), a conversion costs
    # the target, within the noise.
    cost_per_conversion = bid / (1000 * Decimal(str(market.CTR * market.CONVERSION)))
    assert abs(cost_per_conversion - 20) <= Decimal("2.4")


def test_a_step_is_at_most_x2_up_or_x0_5_down_and_never_past_the_maximum_bid() -> None:
    far_up = seen(10_000, 400, 100)  # ideal 1000 x 4% x 25% x 20 = 200.00
    far_down = seen(100_000, 400, 1)  # ideal 0.20
    assert rules().next_bid(Decimal("4.00"), far_up, PRICE).bid == Decimal("8.00")
    assert rules().next_bid(Decimal("12.00"), far_up, PRICE).bid == Decimal("18.00")  # max
    assert rules().next_bid(Decimal("9.00"), far_down, PRICE).bid == Decimal("4.50")
    change = rules(max_step=Decimal("1.25")).next_bid(Decimal("8.00"), far_down, PRICE)
    assert change.bid == Decimal("6.40")
    assert "8.00 -> 6.40" in change.reason
    assert "ideal CPM 0.20" in change.reason


def test_thin_data_keeps_the_bid_or_moves_it_by_the_share_of_clicks_seen() -> None:
    bidding = rules()
    assert bidding.next_bid(Decimal("9.00"), seen(0, 0, 0), PRICE).bid == Decimal("9.00")
    assert bidding.next_bid(Decimal("9.00"), seen(5_000, 0, 0), PRICE).bid == Decimal("9.00")
    # 20 of 200 clicks: a tenth of the way from 9.00 to the ideal 1000 x 0.4% x 5% x 20 = 4.00.
    thin = bidding.next_bid(Decimal("9.00"), seen(5_000, 20, 1), PRICE)
    assert thin.bid == Decimal("8.50")
    assert "confidence 10% of 200 clicks" in thin.reason


def test_target_roas_values_a_conversion_at_its_net_revenue_over_the_target() -> None:
    # 40 conversions earning 2,400 net: 60 each, over ROAS 2 is a CPA of 30; the ideal bid
    # is 1000 x 1% x 5% x 30 = 15.00 (and the product's price, 80 / 2 = 40, before any sale).
    roas = rules(strategy=BidStrategy.TARGET_ROAS, target_cpa=None)
    change = roas.next_bid(Decimal("12.00"), seen(80_000, 800, 40, "2400.00"), PRICE)
    assert change.bid == Decimal("15.00")
    assert "net per conversion 60.00 / target ROAS 2" in change.reason
    no_sale = roas.next_bid(Decimal("12.00"), seen(80_000, 800, 0), PRICE)
    assert no_sale.bid == Decimal("6.00")  # no conversions yet: ideal 0, half a step down
    assert roas.cpa(seen(80_000, 800, 0), PRICE)[0] == Decimal(40)


def test_without_a_target_cpa_set_the_plan_s_price_over_the_target_roas_is_the_target() -> None:
    cpa, source = rules(target_cpa=None, target_roas=Decimal(4)).cpa(seen(1, 1, 0), PRICE)
    assert (cpa, source) == (Decimal(20), "price 80.00 / target ROAS 4")


def test_rules_that_cannot_work_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="max_step"):
        rules(max_step=Decimal(1))
    with pytest.raises(ValueError, match="target_cpa"):
        rules(target_cpa=Decimal(0))


def test_a_maximum_bid_under_the_launch_bid_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="launcher_ad_max_bids: web needs a ceiling"):
        LauncherSettings(launcher_ad_max_bids={Channel.SOCIAL: Decimal(18), Channel.WEB: 5})
    settings = LauncherSettings(launcher_bid_strategy="target_roas", launcher_target_cpa="12.5")
    assert settings.launcher_bid_strategy is BidStrategy.TARGET_ROAS
    assert settings.launcher_target_cpa == Decimal("12.5")
