"""Budget allocation that maximises predicted revenue, exact to the cent.

With concave curves the optimum equalises marginal revenue across channels, except where a
share limit binds. For ``a(1 - exp(-x/b))`` the spend at which a channel's marginal revenue
falls to ``m`` is ``b * ln(a / (b * m))``, so the optimum is found by bisecting on ``m`` until
the spends, clipped to their limits, add up to the budget. The continuous spends are then
floored to the minor unit and the few units left over go, one at a time, to the channel whose
next unit returns the most: the parts sum exactly to the budget and stay within the limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from services.planner.response_curves import ResponseCurve
from shared.events.common import Channel
from shared.money import Money, minor_unit

BISECTION_STEPS = 200


@dataclass(frozen=True)
class ShareLimits:
    """Each channel's share of the budget, when more than one channel is requested."""

    minimum: Decimal
    maximum: Decimal

    def units(self, budget_units: int, channels: int) -> tuple[int, int]:
        """The limits in minor units, loosened by under a unit only when rounding needs it."""
        low = _rounded(self.minimum * budget_units, ROUND_CEILING)
        if low * channels > budget_units:
            low = _rounded(self.minimum * budget_units, ROUND_FLOOR)
        high = _rounded(self.maximum * budget_units, ROUND_FLOOR)
        if high * channels < budget_units:
            high = _rounded(self.maximum * budget_units, ROUND_CEILING)
        return low, high


def allocate_budget(
    budget: Money,
    curves: Mapping[Channel, ResponseCurve],
    price: Money,
    limits: ShareLimits,
) -> dict[Channel, Money]:
    """Split ``budget`` over the channels of ``curves`` to maximise predicted revenue."""
    unit = minor_unit(budget.currency)
    total = int(budget.amount / unit)
    channels = list(curves)
    if len(channels) == 1:
        return {channels[0]: budget}
    low, high = limits.units(total, len(channels))
    per_unit = float(unit)
    # In minor units from here on, so the curves see spend in the same units as the budget.
    marginal = {
        c: (lambda x, curve=curves[c]: curve.marginal_revenue(x * per_unit, float(price.amount)))
        for c in channels
    }
    continuous = _equal_marginal_spends(curves, float(price.amount), per_unit, total, low, high)
    units = {c: min(max(math.floor(continuous[c]), low), high) for c in channels}
    _spread_evenly(units, total, low, high)
    while (leftover := total - sum(units.values())) != 0:
        if leftover > 0:
            open_channels = [c for c in channels if units[c] < high]
            best = max(open_channels, key=lambda c: marginal[c](units[c]))
            units[best] += 1
        else:
            open_channels = [c for c in channels if units[c] > low]
            worst = min(open_channels, key=lambda c: marginal[c](units[c] - 1))
            units[worst] -= 1
    return {c: Money(amount=unit * units[c], currency=budget.currency) for c in channels}


def _equal_marginal_spends(
    curves: Mapping[Channel, ResponseCurve],
    price: float,
    per_unit: float,
    total: int,
    low: int,
    high: int,
) -> dict[Channel, float]:
    def spends(log_marginal: float) -> dict[Channel, float]:
        result = {}
        for channel, curve in curves.items():
            log_slope = _log_slope(curve, price)
            if log_slope is None:
                result[channel] = float(low)
                continue
            spend = curve.saturation_spend * (log_slope - log_marginal) / per_unit
            result[channel] = min(max(spend, float(low)), float(high))
        return result

    # The log marginal revenue at which every channel sits at its upper, then lower, limit.
    slopes = [
        (log_slope, c.saturation_spend)
        for c in curves.values()
        if (log_slope := _log_slope(c, price)) is not None
    ]
    if not slopes:
        return dict.fromkeys(curves, float(low))
    lower = min(log_slope - high * per_unit / b for log_slope, b in slopes) - 1
    upper = max(log_slope - low * per_unit / b for log_slope, b in slopes) + 1
    for _ in range(BISECTION_STEPS):
        middle = (lower + upper) / 2
        if sum(spends(middle).values()) > total:
            lower = middle
        else:
            upper = middle
    return spends(upper)


def _log_slope(curve: ResponseCurve, price: float) -> float | None:
    """Log of the revenue from the first unit of spend; None for a channel that earns nothing."""
    slope = price * curve.purchases_ceiling / curve.saturation_spend
    return math.log(slope) if slope > 0 else None


def _spread_evenly(units: dict[Channel, int], total: int, low: int, high: int) -> None:
    """Settle in bulk what the curves leave over (channels that earn nothing), within limits."""
    while abs(leftover := total - sum(units.values())) >= len(units):
        step = 1 if leftover > 0 else -1
        movable = [c for c in units if (units[c] < high if step > 0 else units[c] > low)]
        if not movable:
            return
        share = abs(leftover) // len(movable)
        if share == 0:
            return
        for channel in movable:
            room = high - units[channel] if step > 0 else units[channel] - low
            units[channel] += step * min(room, share)


def _rounded(value: Decimal, rounding: str) -> int:
    return int(value.to_integral_value(rounding=rounding))
