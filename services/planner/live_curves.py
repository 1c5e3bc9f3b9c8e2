"""The planner's response curves, corrected by what the running campaign has shown so far.

A channel that spent ``s`` and earned ``n`` net says its ceiling is
``n / (price * (1 - exp(-s/b)))`` purchases (the curve through that point, ``b`` fixed as in
the history fit). That estimate is blended with the curve the planner already holds by
Bühlmann-Straub credibility, ``w = v / (v + 1 / u²)``:

- ``u`` is the curve's uncertainty, the log-scale spread of its ceiling (``DEFAULT_UNCERTAINTY``
  for an unlearned curve, the fit's spread for a learned one), so ``u²`` is the relative
  variance of the ceilings a channel may truly have around the curve;
- ``v`` is the evidence's volume, in purchases: purchases arrive as a Poisson count, so the
  live estimate's relative variance is ``1 / v`` for ``v`` the count's mean. The mean is
  estimated by the larger of what the curve expects at ``s`` and what the net amounts to
  (``n / price``), so that neither a channel earning nothing nor a curve at zero stalls.

So the live figure counts as much as the prior once the campaign has seen about ``1 / u²``
purchases' worth of spend (about 6 on an unlearned curve), and a curve learned tightly from
past campaigns yields slowly. A channel earning nothing sinks towards zero, never below: the
blend is linear in the ceiling, the quantity the history fit estimates too. A few cents of
spend leave the curve where it was.

Net revenue (after fees and refunds) is the live figure: it is what the campaign keeps, and
reallocation maximises what the campaign keeps. Figures in another currency than the plan's
are not comparable and are left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace

from services.planner.response_curves import MIN_UNCERTAINTY, ResponseCurve
from shared.events.common import Channel
from shared.events.optimisation import ChannelFigures
from shared.money import Money


def live_curves(
    curves: Mapping[Channel, ResponseCurve], figures: Iterable[ChannelFigures], price: Money
) -> dict[Channel, ResponseCurve]:
    """``curves`` with each channel's ceiling moved towards what its live figures show."""
    updated = dict(curves)
    for figure in figures:
        curve = curves.get(figure.channel)
        comparable = figure.spend.currency == figure.net.currency == price.currency
        if curve is None or not comparable or not figure.spend.is_positive():
            continue
        spend = float(figure.spend.amount)
        explored = -math.expm1(-spend / curve.saturation_spend)
        observed = max(float(figure.net.amount), 0.0) / (float(price.amount) * explored)
        weight = credibility(spend, observed * explored, curve)
        ceiling = (1 - weight) * curve.purchases_ceiling + weight * observed
        updated[figure.channel] = replace(curve, purchases_ceiling=ceiling)
    return updated


def credibility(spend: float, purchases: float, curve: ResponseCurve) -> float:
    """How far ``spend`` that earned ``purchases`` (net over price) moves the curve: 0 at
    no spend, towards 1 as the evidence grows."""
    expected = curve.purchases_ceiling * -math.expm1(-spend / curve.saturation_spend)
    volume = max(expected, purchases)
    return volume / (volume + 1 / max(curve.uncertainty, MIN_UNCERTAINTY) ** 2)
