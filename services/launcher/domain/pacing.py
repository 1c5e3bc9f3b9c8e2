"""Budget pacing: an ad set's spend follows the plan's time curve over the flight.

The plan spends the budget evenly over the campaign's schedule (linear from its start to
its end), so by time t the ad set should have spent ``budget x elapsed share``. Each cycle
the controller compares the rate it spent at since the last cycle with the rate that
spends what is left along the plan's curve over the rest of the flight (the next interval's
share of the plan still ahead), and multiplies the bid by their ratio raised to ``gain``:
a damped multiplicative controller whose bid integrates the error, bounded by ``max_step``
either way. Spend running ahead of plan leaves less per hour to spend, so it bids down;
behind plan, up. The gap closes over the rest of the flight rather than in one cycle,
which keeps a steep market (a small bid change, a large change in what is won) from
swinging between the bounds. Nothing spent since the last cycle bids up by the whole step.

The budget stays the platform's hard cap: the controller never touches it and, once what
is left falls under ``thin_share`` of the budget, no longer bids up. The bid stays within
the ceiling it is given (the target-CPA value of an impression, capped by the maximum bid).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from services.launcher.domain.bidding import BidChange


@dataclass(frozen=True)
class Flight:
    starts_at: datetime
    ends_at: datetime

    def planned_share(self, at: datetime) -> Decimal:
        """Share of the budget the plan has spent by ``at``: 0 before the start, 1 after the end."""
        length = (self.ends_at - self.starts_at).total_seconds()
        if length <= 0:
            return Decimal(1)
        elapsed = Decimal(str((at - self.starts_at).total_seconds())) / Decimal(str(length))
        return min(max(elapsed, Decimal(0)), Decimal(1))


@dataclass(frozen=True)
class SpendSeen:
    """Spend so far as of a moment: where the previous cycle left off."""

    at: datetime
    spent: Decimal


@dataclass(frozen=True)
class Pacing:
    max_step: Decimal = Decimal(2)
    gain: Decimal = Decimal("0.3")
    thin_share: Decimal = Decimal("0.05")

    def __post_init__(self) -> None:
        if self.max_step <= 1:
            raise ValueError("max_step must be greater than 1")
        if not 0 < self.gain <= 1:
            raise ValueError("gain must be greater than 0 and at most 1")
        if not 0 <= self.thin_share < 1:
            raise ValueError("thin_share must be at least 0 and under 1")

    def next_bid(
        self,
        *,
        bid: Decimal,
        ceiling: Decimal,
        unit: Decimal,
        budget: Decimal,
        flight: Flight,
        previous: SpendSeen,
        now: SpendSeen,
    ) -> BidChange:
        """The bid for the next interval; ``unit`` is the currency's minor unit."""
        left = budget - now.spent
        if left <= 0:
            return BidChange(bid, f"pacing: budget {budget} spent; the platform stops it")
        interval = (now.at - previous.at).total_seconds()
        if interval <= 0 or now.at >= flight.ends_at:
            return BidChange(bid, "pacing: no time passed or the flight is over")
        step = Decimal(str(interval))
        seen_rate = (now.spent - previous.spent) / step
        share_now = flight.planned_share(now.at)
        share_next = flight.planned_share(now.at + (now.at - previous.at))
        # What is left, spread over the rest of the flight along the plan's curve.
        wanted_rate = left * (share_next - share_now) / (1 - share_now) / step
        planned_now = budget * share_now
        if seen_rate <= 0:
            factor = self.max_step if wanted_rate > 0 else Decimal(1)
        elif wanted_rate == 0:
            factor = 1 / self.max_step
        else:
            factor = (wanted_rate / seen_rate) ** self.gain
        factor = min(max(factor, 1 / self.max_step), self.max_step)
        thin = left < budget * self.thin_share
        if thin:
            factor = min(factor, Decimal(1))
        new_bid = min(max((bid * factor).quantize(unit, rounding=ROUND_HALF_UP), unit), ceiling)
        reason = (
            f"pacing: spent {now.spent:.2f} of {budget} against {planned_now:.2f} planned "
            f"by now; {seen_rate * 3600:.2f}/h since the last cycle, "
            f"{wanted_rate * 3600:.2f}/h spends the rest along the plan -> x{factor:.2f}"
            f"{' (budget left thin: no bidding up)' if thin else ''}, "
            f"ceiling {ceiling}: {bid} -> {new_bid}"
        )
        return BidChange(new_bid, reason)
