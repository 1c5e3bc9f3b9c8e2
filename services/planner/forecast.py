"""Predicted revenue and ROI for an allocation, with an 80% interval.

The point forecast is each channel's curve at its spend. The interval comes from the curves'
uncertainty: each channel's ceiling is drawn from a lognormal around its estimate (median the
estimate, log-scale spread the curve's ``uncertainty``), the channels independently, and the
10th and 90th percentiles of the simulated total revenue bound the interval. The random
generator is seeded from the campaign id, so the same request gives the same interval.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from services.planner.response_curves import ResponseCurve
from shared.events.common import Channel
from shared.money import Money, round_half_up, sum_money

SIMULATIONS = 4000
INTERVAL = (10.0, 90.0)


@dataclass(frozen=True)
class Forecast:
    revenue_by_channel: dict[Channel, Money]
    revenue: Money
    revenue_low: Money
    revenue_high: Money
    roi: Decimal
    roi_low: Decimal
    roi_high: Decimal


def forecast_revenue(
    allocation: Mapping[Channel, Money],
    curves: Mapping[Channel, ResponseCurve],
    price: Money,
    seed_text: str,
) -> Forecast:
    budget = sum_money(list(allocation.values()), price.currency)
    point = {
        c: curves[c].revenue(float(spend.amount), float(price.amount))
        for c, spend in allocation.items()
    }
    by_channel = {c: _money(value, price.currency) for c, value in point.items()}
    revenue = sum_money(list(by_channel.values()), price.currency)
    rng = np.random.default_rng(zlib.crc32(seed_text.encode()))
    simulated = np.zeros(SIMULATIONS)
    for channel, value in point.items():
        simulated += value * rng.lognormal(0.0, curves[channel].uncertainty, SIMULATIONS)
    low_value, high_value = np.percentile(simulated, INTERVAL)
    # The interval always holds the point forecast, even when the draws are skewed.
    low = min(_money(float(low_value), price.currency), revenue)
    high = max(_money(float(high_value), price.currency), revenue)
    return Forecast(
        revenue_by_channel=by_channel,
        revenue=revenue,
        revenue_low=low,
        revenue_high=high,
        roi=_roi(revenue, budget),
        roi_low=_roi(low, budget),
        roi_high=_roi(high, budget),
    )


def _money(value: float, currency: str) -> Money:
    return Money(amount=round_half_up(Decimal(repr(value)), currency), currency=currency)


def _roi(revenue: Money, spend: Money) -> Decimal:
    return (revenue.amount - spend.amount) / spend.amount
