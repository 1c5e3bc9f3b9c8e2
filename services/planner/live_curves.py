"""The planner's response curves, corrected by what the running campaign has shown so far.

A channel that spent ``s`` and earned ``n`` net says its ceiling is
``n / (price * (1 - exp(-s/b)))`` purchases (the curve through that point, ``b`` fixed as in
the history fit). That estimate is blended with the curve the planner already holds, weighted
by credibility: ``w = s / (s + b * (1 + k))``, where ``k`` is the number of past campaigns
the curve was learned from. A few cents of spend leave the curve where it was; a channel
that has spent its saturation spend on an unlearned curve counts half; a curve learned from
many campaigns yields more slowly. The blend is linear in the ceiling, the quantity the
history fit estimates too, so a channel earning nothing sinks towards zero, never below.

Net revenue (after fees and refunds) is the live figure: it is what the campaign keeps, and
reallocation maximises what the campaign keeps. Figures in another currency than the plan's
are not comparable and are left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace

from services.planner.response_curves import ResponseCurve
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
        weight = credibility(spend, curve)
        ceiling = (1 - weight) * curve.purchases_ceiling + weight * observed
        updated[figure.channel] = replace(curve, purchases_ceiling=ceiling)
    return updated


def credibility(spend: float, curve: ResponseCurve) -> float:
    """How far ``spend`` of live evidence moves the curve: 0 at no spend, towards 1."""
    return spend / (spend + curve.saturation_spend * (1 + curve.observations))
