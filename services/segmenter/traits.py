"""What a group of customers is like, in words: its stable id, its name and its description.

The id comes from the group's traits, not from a cluster index, so the same kind of
customers gets the same id in every run and whatever the order the base was read in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

SEGMENT_NAMES: Mapping[str, str] = {
    "high_value": "High-value customers",
    "occasional": "Occasional buyers",
    "at_risk": "At-risk customers",
    "lapsed_low_value": "Lapsed low-value buyers",
    "engaged_prospects": "Engaged prospects",
    "new_prospects": "New prospects",
}
SEGMENT_ORDER = tuple(SEGMENT_NAMES)


@dataclass(frozen=True)
class Thresholds:
    """Where the words change: recent vs at risk, engaged vs not, high vs low spend."""

    at_risk_after_days: int
    engaged_within_days: int
    high_spend_cents: float  # the median lifetime spend of the base's buyers


@dataclass(frozen=True)
class SegmentTraits:
    size: int
    buyer_share: float
    days_since_purchase: float  # buyers' average; NaN when none bought
    orders: float
    spend: Decimal  # buyers' median lifetime spend
    currency: str
    opted_in_share: float
    days_since_engaged: float  # engaged members' average; NaN when none engaged

    def slug(self, thresholds: Thresholds) -> str:
        if self.buyer_share < 0.5:
            engaged = self.days_since_engaged < thresholds.engaged_within_days
            return "engaged_prospects" if engaged else "new_prospects"
        high_spend = float(self.spend) * 100 >= thresholds.high_spend_cents
        if self.days_since_purchase < thresholds.at_risk_after_days:
            return "high_value" if high_spend else "occasional"
        return "at_risk" if high_spend else "lapsed_low_value"

    def description(self) -> str:
        opted_in = f"{self.opted_in_share:.0%} opted in to email"
        if self.buyer_share < 0.5:
            engaged = (
                "no recent engagement"
                if np.isnan(self.days_since_engaged)
                else f"engaged {self.days_since_engaged:.0f} days ago on average"
            )
            return f"mostly never bought; {engaged}, {opted_in}"
        return (
            f"bought {self.days_since_purchase:.0f} days ago on average, "
            f"{self.orders:.1f} orders, {self.spend} {self.currency} spent (median), {opted_in}"
        )


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def name_segments(traits: list[SegmentTraits], thresholds: Thresholds) -> list[tuple[str, str]]:
    """(id, name) per group; two groups with the same traits get ``_2``, ``_3`` by size."""
    slugs = [t.slug(thresholds) for t in traits]
    by_size = sorted(range(len(traits)), key=lambda i: (-traits[i].size, i))
    seen: Counter[str] = Counter()
    named: dict[int, tuple[str, str]] = {}
    for index in by_size:
        slug = slugs[index]
        seen[slug] += 1
        count = seen[slug]
        base_name = SEGMENT_NAMES[slug]
        named[index] = (
            (slug, base_name) if count == 1 else (f"{slug}_{count}", f"{base_name} ({count})")
        )
    return [named[i] for i in range(len(traits))]
