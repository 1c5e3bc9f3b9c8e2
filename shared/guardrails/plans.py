"""Guardrails for a plan: the budget split and the revenue it predicts."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from decimal import Decimal

from shared.events.common import Channel
from shared.money import Money, minor_unit

# ROI below -1 means losing more than the budget; above 50 no campaign history supports.
DEFAULT_ROI_BOUNDS = (-1.0, 50.0)


def check_allocation(
    allocation: Mapping[Channel, Money],
    budget: Money,
    requested_channels: Collection[Channel],
    min_share: Decimal | float,
    max_share: Decimal | float,
) -> list[str]:
    """In the budget's currency, summing to it, only requested channels, shares in limits.

    Exact to the minor unit by construction: ``Money`` holds nothing finer. A share limit is
    met to within one minor unit: a split exact to the cent cannot always hit a fractional
    share of an odd budget.
    """
    cent = minor_unit(budget.currency)
    violations = [
        f"allocation includes {channel.value}, which was not requested"
        for channel in allocation
        if channel not in requested_channels
    ]
    for channel, money in allocation.items():
        if money.currency != budget.currency:
            violations.append(
                f"allocation[{channel.value}] is in {money.currency}, "
                f"the budget in {budget.currency}"
            )
        if money.amount < 0:
            violations.append(f"allocation[{channel.value}] {money.amount} is negative")
    amounts = {channel: money.amount for channel, money in allocation.items()}
    total = sum(amounts.values(), Decimal(0))
    if total != budget.amount:
        violations.append(
            f"allocation sums to {total} {budget.currency}, not the budget {budget.amount}"
        )
    low = Decimal(str(min_share)) * budget.amount - cent
    high = Decimal(str(max_share)) * budget.amount + cent
    for channel in requested_channels:
        amount = amounts.get(channel, Decimal(0))
        if budget.amount > 0 and not low <= amount <= high:
            share = amount / budget.amount
            violations.append(
                f"allocation[{channel.value}] is {share:.2%} of the budget, "
                f"outside the limits {Decimal(str(min_share)):.2%}-{Decimal(str(max_share)):.2%}"
            )
    return violations


def check_prediction(
    predicted_revenue: Money,
    budget: Money,
    predicted_roi: float,
    roi_bounds: tuple[float, float] = DEFAULT_ROI_BOUNDS,
) -> list[str]:
    """A prediction a person could believe: revenue not negative, ROI finite and bounded."""
    violations = []
    if predicted_revenue.amount < 0:
        violations.append(f"predicted_revenue {predicted_revenue.amount} is negative")
    if predicted_revenue.currency != budget.currency:
        violations.append(
            f"predicted_revenue is in {predicted_revenue.currency}, the budget in {budget.currency}"
        )
    low, high = roi_bounds
    if not math.isfinite(predicted_roi):
        violations.append(f"predicted_roi {predicted_roi} is not a finite number")
    elif not low <= predicted_roi <= high:
        violations.append(f"predicted_roi {predicted_roi:.2f} is outside [{low}, {high}]")
    return violations
