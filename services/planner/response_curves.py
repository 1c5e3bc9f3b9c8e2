"""Saturating response curves: how much revenue a channel returns for a spend.

Each channel's revenue for a spend ``x`` is ``a * (1 - exp(-x / b))``: concave, so every extra
unit of spend returns less than the one before, and bounded by the ceiling ``a``. ``b`` is the
channel's saturation spend: at ``x = b`` the channel has earned 63% of its ceiling.

The ceiling scales with the product's price, so a curve stores it in purchases:
``a = price * purchases_ceiling``. Without history the curve matches the linear conversion
model at the first dollar: its slope at zero, ``a / b``, is
``price * 1000 * conversion_rate / cpm`` (``PLANNER_CPM``, ``PLANNER_CONVERSION_RATE``), so
``purchases_ceiling = 1000 * conversion_rate / cpm * b``. ``b`` comes from
``PLANNER_SATURATION_SPEND`` (defaults email 20000, social 40000, web 30000 in the budget's
currency). With the default economics and a 149.99 product, email's first dollar returns
5.00, social's 3.33 and web's 3.00.

With at least ``PLANNER_MIN_OBSERVATIONS`` past observations for a channel, its ceiling is
refitted by least squares with ``b`` fixed (a closed form, since revenue is linear in the
ceiling), and its uncertainty becomes the spread of the observations around the fit.

The curves are a statistical model and compute in floats; amounts leave the model as Money.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

# Log-scale spread of a channel's ceiling when nothing has been observed: the 80% interval of
# an unlearned channel's revenue spans roughly 0.6x to 1.7x its point forecast.
DEFAULT_UNCERTAINTY = 0.4
# Learned curves are never treated as certain: campaigns differ by more than the fit shows.
MIN_UNCERTAINTY = 0.05


@dataclass(frozen=True)
class Observation:
    """One channel of one past campaign: what was spent and what it earned, at what price."""

    spend: Decimal
    revenue: Decimal
    price: Decimal


@dataclass(frozen=True)
class ResponseCurve:
    purchases_ceiling: float
    saturation_spend: float
    uncertainty: float = DEFAULT_UNCERTAINTY
    observations: int = 0

    def revenue(self, spend: float, price: float) -> float:
        return price * self.purchases_ceiling * -math.expm1(-spend / self.saturation_spend)

    def marginal_revenue(self, spend: float, price: float) -> float:
        """Revenue from the next unit of spend."""
        slope = price * self.purchases_ceiling / self.saturation_spend
        return slope * math.exp(-spend / self.saturation_spend)


def default_curve(
    cpm: Decimal, conversion_rate: Decimal, saturation_spend: Decimal
) -> ResponseCurve:
    purchases_per_unit_spend = 1000 * conversion_rate / cpm
    return ResponseCurve(
        purchases_ceiling=float(purchases_per_unit_spend * saturation_spend),
        saturation_spend=float(saturation_spend),
    )


def fitted_curve(
    prior: ResponseCurve, observations: Sequence[Observation], min_observations: int
) -> ResponseCurve:
    """``prior`` refitted to ``observations``, or ``prior`` itself when there are too few."""
    if len(observations) < max(min_observations, 1):
        return prior
    shapes = [
        float(o.price) * -math.expm1(-float(o.spend) / prior.saturation_spend) for o in observations
    ]
    revenues = [float(o.revenue) for o in observations]
    denominator = sum(f * f for f in shapes)
    if denominator <= 0:
        return prior
    ceiling = max(sum(f * y for f, y in zip(shapes, revenues, strict=True)) / denominator, 0.0)
    return replace(
        prior,
        purchases_ceiling=ceiling,
        uncertainty=_relative_spread(shapes, revenues, ceiling),
        observations=len(observations),
    )


def _relative_spread(shapes: Sequence[float], revenues: Sequence[float], ceiling: float) -> float:
    """Log-scale spread of observed revenue around the fitted curve."""
    ratios = [y / (ceiling * f) for f, y in zip(shapes, revenues, strict=True) if ceiling * f > 0]
    if len(ratios) < 2:
        return DEFAULT_UNCERTAINTY
    mean = sum(ratios) / len(ratios)
    variance = sum((r - mean) ** 2 for r in ratios) / (len(ratios) - 1)
    return max(math.log1p(math.sqrt(variance)), MIN_UNCERTAINTY)
