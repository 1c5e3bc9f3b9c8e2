"""Per-segment totals gathered a chunk at a time: a segment's size, reach, traits and
predicted conversion without its members in memory.

Everything but a median is a sum. Medians (lifetime spend) come from a histogram of
log(1 + cents) in bins 0.25% wide, so a median is within about 0.13% of the exact one, in
memory that does not grow with the base.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from services.segmenter.conversion import ConversionModel
from services.segmenter.features import CustomerColumns, Floats, Ints
from services.segmenter.traits import SegmentTraits
from shared.events.campaigns import HOURS_IN_A_WEEK

Labels = npt.NDArray[np.int32]

SPEND_BINS_PER_UNIT = 400  # bins per unit of log(1 + cents): each bin 0.25% wide
SPEND_BINS = int(np.log1p(1e13) * SPEND_BINS_PER_UNIT) + 1  # up to 100 billion in money


class SegmentStats:
    def __init__(self, groups: int, model: ConversionModel) -> None:
        self._groups = groups
        self._model = model
        self.sizes: Ints = np.zeros(groups, dtype=np.int64)
        self._counts = {name: np.zeros(groups) for name in ("buyers", "opted_in", "engaged")}
        self._sums = {
            name: np.zeros(groups)
            for name in (
                "purchase_days",
                "orders",
                "engaged_days",
                "recency",
                "frequency",
                "engagement",
            )
        }
        self._spend: Ints = np.zeros((groups, SPEND_BINS), dtype=np.int64)
        self._currencies: list[Counter[str]] = [Counter() for _ in range(groups)]
        self._hours: Ints = np.zeros(HOURS_IN_A_WEEK, dtype=np.int64)

    def add(self, members: CustomerColumns, labels: Labels) -> None:
        buyers = members.has_purchased
        engaged = ~np.isnan(members.days_since_engaged)
        self.sizes += np.bincount(labels, minlength=self._groups)
        self._counts["buyers"] += self._per_group(labels[buyers])
        self._counts["opted_in"] += self._per_group(labels[members.email_opt_in])
        self._counts["engaged"] += self._per_group(labels[engaged])
        self._sums["purchase_days"] += self._per_group(
            labels[buyers], members.days_since_purchase[buyers]
        )
        self._sums["orders"] += self._per_group(labels, members.orders_count.astype(np.float64))
        self._sums["engaged_days"] += self._per_group(
            labels[engaged], members.days_since_engaged[engaged]
        )
        for name, scores in zip(
            ("recency", "frequency", "engagement"), self._model.scores(members), strict=True
        ):
            self._sums[name] += self._per_group(labels, scores)
        cells = labels[buyers].astype(np.int64) * SPEND_BINS + spend_bins(
            members.spent_cents[buyers]
        )
        self._spend += np.bincount(cells, minlength=self._spend.size).reshape(self._spend.shape)
        currencies, which = np.unique(members.currencies.astype(str), return_inverse=True)
        for index, currency in enumerate(currencies.tolist()):
            for group, count in enumerate(self._per_group(labels[which == index]).tolist()):
                if count:
                    self._currencies[group][currency] += int(count)
        hours = members.engaged_hour_of_week
        self._hours += np.bincount(hours[hours >= 0], minlength=HOURS_IN_A_WEEK)

    def traits(self, group: int) -> SegmentTraits:
        size, buyers = int(self.sizes[group]), self._counts["buyers"][group]
        engaged = self._counts["engaged"][group]
        currency = self._currencies[group].most_common(1)
        median_cents = median_spend_cents(self._spend[group])
        return SegmentTraits(
            size=size,
            buyer_share=float(buyers / size),
            days_since_purchase=_ratio(self._sums["purchase_days"][group], buyers),
            orders=float(self._sums["orders"][group] / size),
            spend=(Decimal(round(median_cents)) / 100).quantize(Decimal("0.01")),
            currency=currency[0][0] if currency else "",
            opted_in_share=float(self._counts["opted_in"][group] / size),
            days_since_engaged=_ratio(self._sums["engaged_days"][group], engaged),
        )

    def conversion_prior(self, group: int) -> float:
        size = int(self.sizes[group])
        if not size:
            return 0.0
        recency, frequency, engagement = (
            float(self._sums[name][group] / size) for name in ("recency", "frequency", "engagement")
        )
        return self._model.rate(recency, frequency, engagement)

    def email_reachable(self, group: int) -> int:
        return int(self._counts["opted_in"][group])

    def high_spend_cents(self) -> float:
        """The median lifetime spend of every group's buyers together."""
        return median_spend_cents(self._spend.sum(axis=0))

    def engagement_by_hour(self) -> list[int]:
        """Customers who last engaged in each hour of the week (UTC); empty without any."""
        return [int(count) for count in self._hours] if self._hours.any() else []

    def _per_group(self, labels: Labels, weights: Floats | None = None) -> Floats:
        counts = np.bincount(labels, weights=weights, minlength=self._groups)
        return counts.astype(np.float64)


def spend_bins(cents: Ints) -> Ints:
    bins: Ints = np.minimum(
        (np.log1p(np.maximum(cents, 0)) * SPEND_BINS_PER_UNIT).astype(np.int64), SPEND_BINS - 1
    )
    return bins


def median_spend_cents(histogram: Ints) -> float:
    total = int(histogram.sum())
    if not total:
        return 0.0
    middle = int(np.searchsorted(np.cumsum(histogram), (total + 1) / 2))
    return float(np.expm1((middle + 0.5) / SPEND_BINS_PER_UNIT))


def _ratio(total: float, count: float) -> float:
    return float(total / count) if count else float("nan")
