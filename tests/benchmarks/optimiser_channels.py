"""Channel budgets for the optimiser benchmark: the planner's launch split, its
reallocation of what the paid channels have left (the planner's own ``live_curves`` and
``reallocate``), and the best fixed split in hindsight.

The planner's default curves describe a campaign; the benchmark reads them as one of
``REFERENCE_CYCLES`` cycles and scales ceiling and saturation spend with the length, as the
market scales its own, so every length launches with the same split.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from services.planner.allocation import ShareLimits, allocate_budget
from services.planner.app import planning_policy
from services.planner.live_curves import live_curves
from services.planner.reallocation import ReallocationRules, reallocate
from services.planner.response_curves import ResponseCurve
from services.planner.settings import PlannerSettings
from shared.events.common import Channel
from shared.events.optimisation import ChannelFigures
from shared.money import Money
from tests.benchmarks.optimiser_loop import ChannelHistory, split_cents
from tests.benchmarks.optimiser_market import ChannelTruth, Market

REFERENCE_CYCLES = 16
PRICE = Money.of("120", "USD")  # the product's price the planner plans with
MAX_SHIFT = Decimal("0.20")  # PLANNER_MAX_SHIFT's default

type Curves = Mapping[Channel, ResponseCurve]


def planner_settings() -> PlannerSettings:
    return PlannerSettings(planner_engine="offline")


def campaign_prior(settings: PlannerSettings, cycles: int) -> dict[Channel, ResponseCurve]:
    scale = cycles / REFERENCE_CYCLES
    return {
        channel: replace(
            curve,
            purchases_ceiling=curve.purchases_ceiling * scale,
            saturation_spend=curve.saturation_spend * scale,
        )
        for channel, curve in planning_policy(settings).curves.items()
    }


def launch_split(market: Market, settings: PlannerSettings) -> dict[Channel, Decimal]:
    """The shares the planner's offline engine gives the budget at launch."""
    budget = _money(market.budget_per_cycle_cents * REFERENCE_CYCLES)
    allocation = allocate_budget(
        budget, campaign_prior(settings, REFERENCE_CYCLES), PRICE, planning_policy(settings).limits
    )
    return {channel: money.amount / budget.amount for channel, money in allocation.items()}


def best_fixed(
    market: Market,
    cycles: int,
    launch: Mapping[Channel, Decimal],
    min_share: Decimal,
    *,
    best_variants: bool = True,
    best_split: bool = True,
) -> float:
    """Net cents the best fixed policy in hindsight earns in expectation: the truly best
    variant everywhere, email's launch budget, and the split of the paid launch budget
    (each channel at least ``min_share`` of it, the reallocation's floor) that earns most.
    Without ``best_variants`` every variant keeps an even share; without ``best_split``
    the launch split is kept: what each part alone can add."""
    planned = split_cents(market.budget_per_cycle_cents * cycles, launch)
    value = {t.channel: _net_per_exposure(market, t, best_variants) for t in market.channels}
    paid = [t for t in market.channels if t.saturation_cents is not None]
    spend = {t.channel: planned[t.channel] for t in paid}
    if best_split:
        curves = {
            t.channel: ResponseCurve(
                purchases_ceiling=t.reach * cycles * value[t.channel] / 100,
                saturation_spend=(t.saturation_cents or 0) * cycles / 100,
            )
            for t in paid
        }
        paid_budget = _money(sum(spend.values()))
        split = allocate_budget(
            paid_budget, curves, Money.of(1, "USD"), ShareLimits(min_share, Decimal(1))
        )
        spend = {channel: _cents(money) for channel, money in split.items()}
    earned = sum(value[t.channel] * t.exposures(0, spend[t.channel], cycles) for t in paid)
    waves = sum(value[t.channel] * t.reach * cycles for t in market.channels if t not in paid)
    return earned + waves


def _net_per_exposure(market: Market, truth: ChannelTruth, best_variants: bool) -> float:
    """A channel's net cents per exposure with the best variant shown to every segment, or
    the variants evenly."""
    total = 0.0
    for segment_id, share in truth.segment_mix.items():
        test = market.test((segment_id, truth.channel))
        nets = [test.net_per_exposure(v) for v in test.variants]
        total += share * (max(nets) if best_variants else sum(nets) / len(nets))
    return total


@dataclass(frozen=True)
class PlannerReallocation:
    """What the planner does on ``campaign.evaluated``: the campaign's curves corrected by
    each paid channel's live spend and net (``live_curves``), then what the paid channels
    have left re-planned within the guardrails (``reallocate``)."""

    prior: Curves
    rules: ReallocationRules

    def __call__(self, history: ChannelHistory) -> dict[Channel, int]:
        figures = [
            # live_curves reads spend and net only; the counts are not the market's.
            ChannelFigures(
                channel=channel,
                spend=_money(history.spent[channel]),
                net=_money(history.net[channel]),
                conversions=0,
                clicks=0,
            )
            for channel in history.planned
        ]
        result = reallocate(
            {c: _money(a) for c, a in history.planned.items()},
            live_curves(self.prior, figures, PRICE),
            {c: _money(history.spent[c]) for c in history.planned},
            PRICE,
            self.rules,
        )
        return {c: _cents(m) for c, m in result.allocation.items()}


def _money(cents: int) -> Money:
    return Money(amount=Decimal(cents) / 100, currency=PRICE.currency)


def _cents(money: Money) -> int:
    return int(money.amount * 100)
