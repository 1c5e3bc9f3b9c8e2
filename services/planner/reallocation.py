"""Re-planning the budget that is left while a campaign runs, within guardrails.

The target is the split of the remaining budget that maximises predicted revenue from where
each channel already is: a channel that has spent ``s`` continues along its curve from ``s``,
which for ``a(1 - exp(-x/b))`` is the same curve with its ceiling scaled by ``exp(-s/b)``; so
the allocation's own equal-marginal search (``allocation.py``) finds it, exact to the cent.

The guardrails then bound the step from the current split towards that target:

- at most ``max_shift`` of the remaining budget moves per cycle (the sum of what the gaining
  channels gain); a longer step is scaled down, every channel moving the same fraction of its
  way, so each lands between where it was and its target;
- the target gives every channel at least ``min_share`` of the remaining budget, so no
  channel is cut below that floor; one already below it is never cut, and climbs towards it
  with the rest of the step (the shift limit wins over the floor);
- the parts add up exactly to the remaining total, in the currency's minor unit, none negative.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal

from services.planner.allocation import ShareLimits, allocate_budget
from services.planner.response_curves import ResponseCurve
from shared.events.common import Channel
from shared.money import Money, minor_unit, sum_money


@dataclass(frozen=True)
class ReallocationRules:
    max_shift: Decimal  # share of the remaining budget movable per cycle (PLANNER_MAX_SHIFT)
    min_share: Decimal  # of the remaining budget, per live channel (PLANNER_MIN_SHARE)


@dataclass(frozen=True)
class Reallocation:
    allocation: dict[Channel, Money]  # the new split of the remaining budget
    moved: Money
    reasons: list[str]


def reallocate(
    remaining: Mapping[Channel, Money],
    curves: Mapping[Channel, ResponseCurve],
    spent: Mapping[Channel, Money],
    price: Money,
    rules: ReallocationRules,
) -> Reallocation:
    """The new split of ``remaining`` (the live channels' current share of what is left)."""
    if not remaining:
        raise ValueError("remaining needs at least one live channel")
    currency = next(iter(remaining.values())).currency
    unit = minor_unit(currency)
    total = sum_money(list(remaining.values()), currency)
    current = {c: int(m.amount / unit) for c, m in remaining.items()}
    if rules.min_share * len(current) > 1:
        raise ValueError(f"min_share {rules.min_share} leaves no split for {len(current)} channels")
    if len(current) == 1 or not total.is_positive():
        return Reallocation(dict(remaining), Money.zero(currency), ["nothing to move"])
    onward = {c: _continued(curves[c], spent.get(c)) for c in current}
    target_money = allocate_budget(total, onward, price, ShareLimits(rules.min_share, Decimal(1)))
    target = {c: int(m.amount / unit) for c, m in target_money.items()}
    cap = int((rules.max_shift * sum(current.values())).to_integral_value(rounding=ROUND_FLOOR))
    wanted = _moved(current, target)
    units = target if wanted <= cap else _step_towards(current, target, cap)
    allocation = {c: Money(amount=unit * units[c], currency=currency) for c in current}
    moved = Money(amount=unit * _moved(current, units), currency=currency)
    reasons = _reasons(remaining, allocation, onward, price)
    if wanted > cap:
        reasons.append(
            f"shift capped at {(rules.max_shift * 100).normalize():f}% of the remaining {total}: "
            f"{moved} moved of the {Money(amount=unit * wanted, currency=currency)} the curves ask"
        )
    return Reallocation(allocation, moved, reasons or ["the current split is already the best"])


def _continued(curve: ResponseCurve, spent: Money | None) -> ResponseCurve:
    """The curve of what a channel earns from here on, having spent ``spent``."""
    already = float(spent.amount) if spent is not None else 0.0
    return replace(
        curve,
        purchases_ceiling=curve.purchases_ceiling * math.exp(-already / curve.saturation_spend),
    )


def _moved(before: Mapping[Channel, int], after: Mapping[Channel, int]) -> int:
    return sum(max(after[c] - before[c], 0) for c in before)


def _step_towards(
    current: Mapping[Channel, int], target: Mapping[Channel, int], cap: int
) -> dict[Channel, int]:
    """``cap`` units moved along the way from ``current`` to ``target``, in whole units."""
    wanted = _moved(current, target)
    delta = {c: (target[c] - current[c]) * cap // wanted for c in current}  # floors both signs
    gains = {c: d for c, d in delta.items() if d > 0}
    cuts = {c: -d for c, d in delta.items() if d < 0}
    # Flooring a cut rounds it away from zero: trim the larger side until the two balance.
    while sum(gains.values()) != sum(cuts.values()):
        side = cuts if sum(cuts.values()) > sum(gains.values()) else gains
        largest = max(side, key=lambda c: side[c])
        side[largest] -= 1
    return {c: current[c] + gains.get(c, 0) - cuts.get(c, 0) for c in current}


def _reasons(
    before: Mapping[Channel, Money],
    after: Mapping[Channel, Money],
    onward: Mapping[Channel, ResponseCurve],
    price: Money,
) -> list[str]:
    reasons = []
    for channel in before:
        if after[channel] == before[channel]:
            continue
        curve = onward[channel]
        was = curve.marginal_revenue(float(before[channel].amount), float(price.amount))
        now = curve.marginal_revenue(float(after[channel].amount), float(price.amount))
        verb = "gains" if before[channel] < after[channel] else "gives up"
        change = Money(
            amount=abs(after[channel].amount - before[channel].amount), currency=price.currency
        )
        reasons.append(
            f"{channel.value} {verb} {change} ({before[channel]} -> "
            f"{after[channel]}): its last unit of spend returns {was:.2f}, {now:.2f} after"
        )
    return reasons
