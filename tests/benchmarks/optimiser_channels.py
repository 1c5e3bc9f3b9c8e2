"""Channel budgets for the optimiser benchmark: the planner's launch split, its
reallocation of what the paid channels have left, and the best fixed split in hindsight.

The planner's default curves describe a campaign; the benchmark reads them as one of
``REFERENCE_CYCLES`` cycles and scales ceiling and saturation spend with the length, as the
market scales its own, so every length launches with the same split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from services.planner.allocation import ShareLimits, allocate_budget
from services.planner.app import planning_policy
from services.planner.reallocation import ReallocationRules, reallocate
from services.planner.response_curves import Observation, ResponseCurve, fitted_curve
from services.planner.settings import PlannerSettings
from shared.events.common import Channel
from shared.money import Money
from tests.benchmarks.optimiser_loop import FIXED_COST_CHANNELS, ChannelHistory, split_cents
from tests.benchmarks.optimiser_market import ChannelTruth, Market

REFERENCE_CYCLES = 16
PRICE = Money.of("120", "USD")  # the product's price the planner plans with
MAX_SHIFT = Decimal("0.20")  # PLANNER_MAX_SHIFT's default

type Curves = Mapping[Channel, ResponseCurve]
type CurveUpdate = Callable[[Curves, ChannelHistory], dict[Channel, ResponseCurve]]


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
    market: Market, cycles: int, launch: Mapping[Channel, Decimal], min_share: Decimal
) -> float:
    """Net cents the best fixed policy in hindsight earns in expectation: the truly best
    variant everywhere, email's launch budget, and the split of the paid launch budget
    (each channel at least ``min_share`` of it, the reallocation's floor) that earns most."""
    planned = split_cents(market.budget_per_cycle_cents * cycles, launch)
    value = {truth.channel: _best_net_per_exposure(market, truth) for truth in market.channels}
    paid = [t for t in market.channels if t.saturation_cents is not None]
    curves = {
        t.channel: ResponseCurve(
            purchases_ceiling=t.reach * cycles * value[t.channel] / 100,
            saturation_spend=(t.saturation_cents or 0) * cycles / 100,
        )
        for t in paid
    }
    paid_budget = _money(sum(planned[t.channel] for t in paid))
    split = allocate_budget(
        paid_budget, curves, Money.of(1, "USD"), ShareLimits(min_share, Decimal(1))
    )
    earned = sum(value[t.channel] * t.exposures(0, _cents(split[t.channel]), cycles) for t in paid)
    waves = sum(value[t.channel] * t.reach * cycles for t in market.channels if t not in paid)
    return earned + waves


def _best_net_per_exposure(market: Market, truth: ChannelTruth) -> float:
    """A channel's net cents per exposure with the best variant shown to every segment."""
    total = 0.0
    for segment_id, share in truth.segment_mix.items():
        test = market.test((segment_id, truth.channel))
        total += share * max(test.net_per_exposure(v) for v in test.variants)
    return total


@dataclass(frozen=True)
class PlannerReallocation:
    """The planner's ``reallocate`` on the campaign's curves as ``update`` corrects them
    with what the campaign has shown so far."""

    prior: Curves
    rules: ReallocationRules
    update: CurveUpdate

    def __call__(self, history: ChannelHistory) -> dict[Channel, int]:
        curves = self.update(self.prior, history)
        result = reallocate(
            {c: _money(a) for c, a in history.planned.items()},
            curves,
            {c: _money(history.spent[c][-1]) for c in history.planned},
            PRICE,
            self.rules,
        )
        return {c: _cents(m) for c, m in result.allocation.items()}


def refitted_curves(min_observations: int) -> CurveUpdate:
    """The benchmark's own live correction, standing in for the planner's: each paid
    channel's ceiling refitted by least squares (the planner's ``fitted_curve``, saturation
    spend fixed) through its cumulative spend and net after each cycle, once there are
    ``min_observations`` cycles; the prior until then."""

    def update(prior: Curves, history: ChannelHistory) -> dict[Channel, ResponseCurve]:
        return {
            channel: fitted_curve(
                curve,
                [
                    Observation(Decimal(spent) / 100, Decimal(net) / 100, PRICE.amount)
                    for spent, net in zip(history.spent[channel], history.net[channel], strict=True)
                    if spent > 0
                ],
                min_observations,
            )
            for channel, curve in prior.items()
            if channel not in FIXED_COST_CHANNELS
        }

    return update


def _money(cents: int) -> Money:
    return Money(amount=Decimal(cents) / 100, currency=PRICE.currency)


def _cents(money: Money) -> int:
    return int(money.amount * 100)
