"""Incremental lift: how much more the campaign's treated customers bought than the customers
it held out on purpose.

Treated: the customers the campaign emailed (accepted by their server or refused for good:
the treatment assigned, whether or not it arrived). Held out: the customers the launcher
kept out to measure the lift (the ad platforms target no one in particular, so only email
is measured this way). A customer converted when a completed payment credited to the
campaign, attributed or organic, came within the lookback window after their email was
sent (or after they were held out).

The absolute lift is the difference of the two conversion rates, with Newcombe's hybrid
score interval (his method 10: built from each rate's Wilson interval), which keeps its
coverage with the small counts and rates near zero a holdout gives, where the normal
approximation does not. The relative lift is treated / held out - 1, with the Katz
log interval of the rate ratio, once both groups have converted at least once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist

from services.analytics.journeys import Journey

CONFIDENCE = 0.95
Z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Group:
    people: int
    converted: int

    @property
    def rate(self) -> float:
        return self.converted / self.people if self.people else 0.0

    def wilson(self) -> Interval:
        n, x = self.people, self.converted
        centre = (x + Z**2 / 2) / (n + Z**2)
        half = Z / (n + Z**2) * math.sqrt(x * (n - x) / n + Z**2 / 4)
        return Interval(max(centre - half, 0.0), min(centre + half, 1.0))


@dataclass(frozen=True)
class Lift:
    treated: Group
    held_out: Group
    absolute: float
    absolute_interval: Interval
    relative: float | None
    relative_interval: Interval | None


def lift(treated: Group, held_out: Group) -> Lift | None:
    """None until both groups have someone in them."""
    if not treated.people or not held_out.people:
        return None
    p1, p2 = treated.rate, held_out.rate
    (l1, u1), (l2, u2) = _bounds(treated), _bounds(held_out)
    difference = p1 - p2
    interval = Interval(
        difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )
    relative = p1 / p2 - 1 if p2 > 0 else None
    return Lift(
        treated, held_out, difference, interval, relative, _ratio_interval(treated, held_out)
    )


def _bounds(group: Group) -> tuple[float, float]:
    wilson = group.wilson()
    return wilson.low, wilson.high


def _ratio_interval(treated: Group, held_out: Group) -> Interval | None:
    if not treated.converted or not held_out.converted:
        return None
    ratio = treated.rate / held_out.rate
    spread = Z * math.sqrt(
        1 / treated.converted - 1 / treated.people + 1 / held_out.converted - 1 / held_out.people
    )
    return Interval(ratio * math.exp(-spread) - 1, ratio * math.exp(spread) - 1)


def campaign_groups(journeys: Iterable[Journey], window: timedelta) -> tuple[Group, Group]:
    """The treated and the held-out group of one campaign's journeys."""
    treated: list[bool] = []
    held_out: list[bool] = []
    for journey in journeys:
        if journey.held_out_at is not None:
            held_out.append(_converted(journey, journey.held_out_at, window))
        elif (sent_at := journey.treated_at) is not None:
            treated.append(_converted(journey, sent_at, window))
    return Group(len(treated), sum(treated)), Group(len(held_out), sum(held_out))


def _converted(journey: Journey, since: datetime, window: timedelta) -> bool:
    return any(since <= paid.at <= since + window for paid in journey.payments)
