"""The rule-based attribution models: how each shares one sale among the touches of its path.

- **last touch**: all of it to the touch the sale rests on (what ``revenue.recorded`` says);
- **first touch**: all of it to the first touch in the window;
- **linear**: equal shares to every touch;
- **time decay**: shares halving with every half-life between the touch and the sale
  (``ANALYTICS_TIME_DECAY_HALF_LIFE_DAYS``, default 7 days, as web analytics tools have long
  used), so recent touches count more without the older ones counting for nothing;
- **position based** (U-shaped): 40% to the first touch, 40% to the last, the 20% left
  shared equally among those between; a path of two touches shares 50/50, of one takes all.

Shares are exact fractions, except time decay's, whose powers of two are floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from services.analytics.journeys import Touch


class Model(StrEnum):
    LAST_TOUCH = "last_touch"
    FIRST_TOUCH = "first_touch"
    LINEAR = "linear"
    TIME_DECAY = "time_decay"
    POSITION_BASED = "position_based"
    MARKOV = "markov"


RULE_BASED = (
    Model.LAST_TOUCH,
    Model.FIRST_TOUCH,
    Model.LINEAR,
    Model.TIME_DECAY,
    Model.POSITION_BASED,
)
ENDS_SHARE = Fraction(2, 5)  # position based: to each of the first and the last touch


def touch_shares(
    model: Model, path: Sequence[Touch], paid_at: datetime, half_life: timedelta
) -> list[Fraction]:
    """Each touch's share of the sale, in path order; they sum to 1 (none for no path)."""
    count = len(path)
    if count == 0:
        return []
    match model:
        case Model.LAST_TOUCH:
            return [Fraction(0)] * (count - 1) + [Fraction(1)]
        case Model.FIRST_TOUCH:
            return [Fraction(1)] + [Fraction(0)] * (count - 1)
        case Model.LINEAR:
            return [Fraction(1, count)] * count
        case Model.TIME_DECAY:
            return _time_decay(path, paid_at, half_life)
        case Model.POSITION_BASED:
            return _position_based(count)
    raise ValueError(f"{model} does not share a single path; it reads every journey")


def _time_decay(path: Sequence[Touch], paid_at: datetime, half_life: timedelta) -> list[Fraction]:
    # Ages are clamped at 0: a click dated a moment after the sale (clocks) is simply recent.
    ages = [max((paid_at - touch.at) / half_life, 0.0) for touch in path]
    weights = [Fraction(2.0**-age) for age in ages]
    whole = sum(weights, Fraction(0))
    return [weight / whole for weight in weights]


def _position_based(count: int) -> list[Fraction]:
    if count == 1:
        return [Fraction(1)]
    if count == 2:
        return [Fraction(1, 2)] * 2
    middle = (1 - 2 * ENDS_SHARE) / (count - 2)
    return [ENDS_SHARE, *[middle] * (count - 2), ENDS_SHARE]
