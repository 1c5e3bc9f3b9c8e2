"""Money split by shares, exact to the minor unit.

A model's shares are fractions (exact for the rule-based models, floats for time decay and
the Markov model); the money they share is not. Each part is floored to the minor unit and
the units left over go one at a time to the largest remainders (ties to the first key in
sorted order), so the parts always sum exactly to the total and the same input always
gives the same split.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

from shared.money import Money, minor_unit

type Share = Fraction | float | int | Decimal


def split_by_shares(total: Money, shares: Mapping[str, Share]) -> dict[str, Money]:
    """``total`` split in proportion to ``shares`` (non-negative; zero shares get zero).

    With no positive share nothing can be credited, and every key gets zero.
    """
    weights = {key: Fraction(share) for key, share in shares.items()}
    if any(weight < 0 for weight in weights.values()):
        raise ValueError("shares must not be negative")
    whole = sum(weights.values(), Fraction(0))
    currency = total.currency
    if whole == 0:
        return {key: Money.zero(currency) for key in sorted(weights)}
    unit = minor_unit(currency)
    units = int(total.amount / unit)
    sign, units = (-1 if units < 0 else 1), abs(units)
    exact = {key: units * weight / whole for key, weight in weights.items()}
    parts = {key: int(share) for key, share in exact.items()}  # floored: shares are >= 0
    left = units - sum(parts.values())
    by_remainder = sorted(exact, key=lambda key: (-(exact[key] - parts[key]), key))
    for key in by_remainder[:left]:
        parts[key] += 1
    return {key: Money(amount=unit * sign * parts[key], currency=currency) for key in sorted(parts)}
