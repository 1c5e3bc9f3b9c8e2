"""How fraud risk is scored: windows, each signal's rule and cap, and the two thresholds.

The defaults are a starting point to tune against labelled outcomes, chosen so that each
signal alone stays below blocking (every cap is under the block threshold) and blocking
takes several independent signals agreeing. With them, six payments with one token in ten
minutes reach review on their own; a new customer paying 20 times the campaign's typical
basket from another country after three declines is blocked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal


@dataclass(frozen=True)
class Lookback:
    """How far back the inputs reach: the velocity windows and the median samples' sizes."""

    short_window: timedelta = timedelta(minutes=10)
    long_window: timedelta = timedelta(hours=24)  # declines are counted over this one too
    customer_sample: int = 50
    campaign_sample: int = 200

    def __post_init__(self) -> None:
        if not timedelta(0) < self.short_window <= self.long_window:
            raise ValueError("windows need 0 < short_window <= long_window")
        if min(self.customer_sample, self.campaign_sample) < 1:
            raise ValueError("sample sizes must be at least 1")


def _check_cap(cap: float) -> None:
    if not 0 <= cap <= 1:
        raise ValueError(f"a signal's cap must be within [0, 1]; got {cap}")


@dataclass(frozen=True)
class CountRule:
    """Every count above ``allowed`` adds ``step``, up to ``cap``."""

    allowed: int
    step: float
    cap: float

    def __post_init__(self) -> None:
        _check_cap(self.cap)
        if self.step < 0:
            raise ValueError(f"a count rule's step must not be negative; got {self.step}")

    def contribution(self, count: int) -> float:
        return min(self.cap, self.step * max(0, count - self.allowed))


@dataclass(frozen=True)
class VelocityRule:
    """Payments in the short window and in the long one; the larger contribution counts,
    because every payment in the short window is in the long one too."""

    short: CountRule
    long: CountRule


@dataclass(frozen=True)
class RatioRule:
    """Nothing up to ``allowed`` times the reference, then linear up to ``cap`` at ``full``."""

    allowed: Decimal
    full: Decimal
    cap: float

    def __post_init__(self) -> None:
        _check_cap(self.cap)
        if not 0 < self.allowed < self.full:
            raise ValueError(
                f"a ratio rule needs 0 < allowed < full; got {self.allowed}, {self.full}"
            )

    def contribution(self, ratio: Decimal) -> float:
        share = (ratio - self.allowed) / (self.full - self.allowed)
        return self.cap * float(min(max(share, Decimal(0)), Decimal(1)))


@dataclass(frozen=True)
class RiskPolicy:
    """Scores at or above ``block`` fail the payment; at or above ``review`` hold it."""

    lookback: Lookback = field(default_factory=Lookback)
    customer_velocity: VelocityRule = VelocityRule(
        CountRule(allowed=3, step=0.15, cap=0.6), CountRule(allowed=10, step=0.05, cap=0.6)
    )
    # Offices and mobile carriers put many people behind one address, so IPs get more room.
    ip_velocity: VelocityRule = VelocityRule(
        CountRule(allowed=5, step=0.10, cap=0.5), CountRule(allowed=20, step=0.03, cap=0.5)
    )
    token_velocity: VelocityRule = VelocityRule(
        CountRule(allowed=3, step=0.20, cap=0.8), CountRule(allowed=10, step=0.05, cap=0.8)
    )
    # One decline is usually a typo or an expired card; a run of them is card testing.
    declines: CountRule = CountRule(allowed=1, step=0.20, cap=0.7)
    customer_history: RatioRule = RatioRule(allowed=Decimal(3), full=Decimal(10), cap=0.5)
    min_customer_history: int = 3
    campaign_basket: RatioRule = RatioRule(allowed=Decimal(3), full=Decimal(20), cap=0.4)
    min_campaign_basket: int = 5
    new_customer: RatioRule = RatioRule(allowed=Decimal(2), full=Decimal(10), cap=0.5)
    country_mismatch: float = 0.3
    review: float = 0.6
    block: float = 0.85

    def __post_init__(self) -> None:
        _check_cap(self.country_mismatch)
        if not 0 < self.review <= self.block <= 1:
            raise ValueError(
                f"thresholds need 0 < review <= block <= 1; got {self.review}, {self.block}"
            )
