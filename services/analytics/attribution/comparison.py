"""Every model side by side: each one's credit per channel, per segment and per variant.

The models share the campaign's attributed net revenue (net of fees and refunds, in the
reporting currency; organic sales and other currencies take no part), and each model's
credit sums to exactly that amount in every breakdown (see ``credit``). The rule-based
models weigh each touch's share by its sale's revenue; the Markov model credits each state
its removal-effect share of the whole (see ``markov``), over the paths of every sale and of
every journey that ended without one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from fractions import Fraction

from services.analytics.attribution.credit import split_by_shares
from services.analytics.attribution.markov import Path, removal_effect_shares
from services.analytics.attribution.models import RULE_BASED, Model, touch_shares
from services.analytics.conversions import Conversion
from services.analytics.journeys import Touch
from shared.money import Money, sum_money


class Dimension(StrEnum):
    CHANNEL = "channel"
    SEGMENT = "segment"
    VARIANT = "variant"


KEY_OF: dict[Dimension, Callable[[Touch], str]] = {
    Dimension.CHANNEL: lambda touch: touch.channel.value,
    Dimension.SEGMENT: lambda touch: touch.segment_id,
    Dimension.VARIANT: lambda touch: touch.variant_id,
}


@dataclass(frozen=True)
class CreditRow:
    key: str
    credit: dict[Model, Money]


@dataclass(frozen=True)
class ModelComparison:
    attributed_net: Money
    conversions: int
    rows: dict[Dimension, list[CreditRow]]


def compare_models(
    conversions: Iterable[Conversion],
    unconverted: Iterable[Sequence[Touch]],
    currency: str,
    half_life: timedelta,
) -> ModelComparison:
    """``conversions``: the campaign's sales; ``unconverted``: the touch paths of the
    journeys that ended without an attributed sale."""
    sales = [c for c in conversions if c.attributed and c.path and c.net.currency == currency]
    idle = [list(path) for path in unconverted if path]
    total = sum_money([sale.net for sale in sales], currency)
    rows = {
        dimension: _rows(total, sales, idle, KEY_OF[dimension], half_life)
        for dimension in Dimension
    }
    return ModelComparison(attributed_net=total, conversions=len(sales), rows=rows)


def _rows(
    total: Money,
    sales: Sequence[Conversion],
    idle: Sequence[Sequence[Touch]],
    key: Callable[[Touch], str],
    half_life: timedelta,
) -> list[CreditRow]:
    credit: dict[Model, dict[str, Money]] = {
        model: split_by_shares(total, _weighted_parts(model, sales, key, half_life))
        for model in RULE_BASED
    }
    paths = [Path([key(t) for t in sale.path], conversions=1) for sale in sales]
    paths += [Path([key(t) for t in path], nulls=1) for path in idle]
    credit[Model.MARKOV] = split_by_shares(total, removal_effect_shares(paths))
    keys = sorted({k for sale in sales for k in map(key, sale.path)})
    zero = Money.zero(total.currency)
    return [CreditRow(k, {model: credit[model].get(k, zero) for model in Model}) for k in keys]


def _weighted_parts(
    model: Model, sales: Sequence[Conversion], key: Callable[[Touch], str], half_life: timedelta
) -> dict[str, Fraction]:
    parts: dict[str, Fraction] = defaultdict(Fraction)
    for sale in sales:
        value = Fraction(sale.net.amount)
        shares = touch_shares(model, sale.path, sale.paid_at, half_life)
        for touch, share in zip(sale.path, shares, strict=True):
            parts[key(touch)] += value * share
    return dict(parts)
