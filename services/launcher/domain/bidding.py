"""Target-CPA and target-ROAS bidding: what an ad set's thousand impressions are worth.

An impression converts with the ad set's click-through rate (the platform's clicks over its
impressions) times its conversion rate (the arm's conversions over its tracked clicks), so
paying ``1000 x CTR x conversion rate x target CPA`` per thousand impressions buys
conversions at the target CPA; in a second-price auction that is the bid to make (it
pays at most that). Target ROAS is the same rule with the target CPA derived from the
value of a conversion: the arm's net revenue per conversion (the product's price before
there is one) over the target ROAS; target CPA takes a fixed CPA, or the price over the
target ROAS when none is set.

The bid moves from the current one toward that ideal only as far as the data allows:
by the share of ``min_clicks`` tracked clicks seen so far (no clicks, no move), then by at
most ``max_step`` either way in one cycle, never above ``max_bid`` nor below ``min_bid``.
Amounts are Decimals in the campaign's currency; rates are kept as exact fractions.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

PER_THOUSAND = Decimal(1000)


class BidStrategy(StrEnum):
    TARGET_CPA = "target_cpa"
    TARGET_ROAS = "target_roas"


@dataclass(frozen=True)
class AdSetPerformance:
    """What an ad set delivered (the platform's report) and earned (the arm's figures)."""

    impressions: int
    clicks: int  # as the platform counts them: the click-through rate's
    tracked_clicks: int  # the arm's exposures: the conversion rate's base
    conversions: int
    net: Decimal  # net revenue credited to the arm


@dataclass(frozen=True)
class BidChange:
    bid: Decimal
    reason: str


@dataclass(frozen=True)
class TargetBidding:
    strategy: BidStrategy
    target_roas: Decimal
    target_cpa: Decimal | None  # None: the product's price over the target ROAS
    min_clicks: int
    max_step: Decimal
    max_bid: Decimal
    min_bid: Decimal  # the currency's minor unit: bids are rounded to it

    def __post_init__(self) -> None:
        if self.target_roas <= 0:
            raise ValueError("target_roas must be greater than 0")
        if self.target_cpa is not None and self.target_cpa <= 0:
            raise ValueError("target_cpa must be greater than 0")
        if self.min_clicks < 1:
            raise ValueError("min_clicks must be at least 1")
        if self.max_step <= 1:
            raise ValueError("max_step must be greater than 1")
        if not 0 < self.min_bid <= self.max_bid:
            raise ValueError("min_bid must be greater than 0 and at most max_bid")

    def cpa(self, performance: AdSetPerformance, price: Decimal) -> tuple[Decimal, str]:
        """The target CPA for ``performance``, and where it comes from."""
        if self.strategy is BidStrategy.TARGET_ROAS and performance.conversions > 0:
            value = performance.net / performance.conversions
            return (
                value / self.target_roas,
                f"net per conversion {value:.2f} / target ROAS {self.target_roas}",
            )
        if self.strategy is BidStrategy.TARGET_CPA and self.target_cpa is not None:
            return self.target_cpa, "the target CPA set"
        return price / self.target_roas, f"price {price} / target ROAS {self.target_roas}"

    def next_bid(
        self, current: Decimal, performance: AdSetPerformance, price: Decimal
    ) -> BidChange:
        p = performance
        if p.impressions == 0 or p.tracked_clicks == 0:
            return BidChange(current, f"{self.strategy}: no impressions or tracked clicks yet")
        cpa, source = self.cpa(p, price)
        ctr = Decimal(p.clicks) / p.impressions
        conversion = Decimal(p.conversions) / p.tracked_clicks
        ideal = PER_THOUSAND * ctr * conversion * cpa
        confidence = min(Decimal(1), Decimal(p.tracked_clicks) / self.min_clicks)
        shrunk = current + confidence * (ideal - current)
        stepped = min(max(shrunk, current / self.max_step), current * self.max_step)
        bid = _rounded(min(max(stepped, self.min_bid), self.max_bid), self.min_bid)
        reason = (
            f"{self.strategy}: CPA {cpa:.2f} ({source}); CTR {ctr:.3%} "
            f"({p.clicks}/{p.impressions}) x conversion {conversion:.2%} "
            f"({p.conversions}/{p.tracked_clicks}) -> ideal CPM {ideal:.2f}; "
            f"confidence {confidence:.0%} of {self.min_clicks} clicks; "
            f"step x{1 / self.max_step:.2f}..x{self.max_step}, max {self.max_bid}: "
            f"{current} -> {bid}"
        )
        return BidChange(bid, reason)


def _rounded(amount: Decimal, unit: Decimal) -> Decimal:
    return amount.quantize(unit, rounding=ROUND_HALF_UP)
