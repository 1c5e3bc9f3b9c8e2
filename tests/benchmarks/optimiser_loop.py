"""The optimiser's loop, offline, against a synthetic market. Each cycle the channels
spend their share of what is left, the market answers, and then, as analytics, launcher
and planner do on ``campaign.evaluated``:

- each segment x channel gets analytics' own decision (``evaluation.decide``, the function
  the optimiser cycle calls): a declared winner takes all later traffic, for good; a
  sample-ratio mismatch (checked for email only: ad clicks are an outcome, not an
  assignment) freezes the weights; otherwise the next wave follows Thompson sampling with
  the exploration floor. The first wave is split evenly. Ads follow the weights too unless
  ``ads_follow_weights`` is off, which keeps each ad set's even launch share;
- the channel policy re-plans what the paid channels have left. Email's allocation is a
  fixed cost, charged at the first wave, as the planner treats it.

The fixed launch split is the same loop with even variant weights and the launch
allocation kept. Money (budget, spend, net) is counted in integer cents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Protocol

import numpy as np

from services.analytics.evaluation import ExperimentState, OptimiserPolicy, decide
from services.analytics.experiments import Arm
from services.analytics.settings import AnalyticsSettings
from services.planner.replanning import FIXED_COST_CHANNELS
from shared.events.common import Channel
from tests.benchmarks.optimiser_market import (
    ArmOutcome,
    CycleSpend,
    Market,
    TestKey,
    TestTruth,
    expected_net,
    play_cycle,
)


def _analytics_default(name: str) -> Any:
    return AnalyticsSettings.model_fields[name].default


@dataclass(frozen=True)
class VariantRules:
    """The analytics settings the verdicts and weights are computed with: its defaults."""

    floor: float = _analytics_default("optimiser_exploration_floor")
    loss_threshold: float = _analytics_default("optimiser_loss_threshold")
    min_conversions: int = _analytics_default("optimiser_min_conversions")
    ads_follow_weights: bool = True

    @property
    def policy(self) -> OptimiserPolicy:
        return OptimiserPolicy(self.min_conversions, self.loss_threshold, self.floor)


@dataclass(frozen=True)
class ChannelHistory:
    """What a channel policy sees after a cycle: per channel, spend and net so far, as
    ``campaign.evaluated`` reports them."""

    cycles: int
    cycles_left: int
    planned: Mapping[Channel, int]  # what each paid channel has left to spend
    spent: Mapping[Channel, int]
    net: Mapping[Channel, int]


class ChannelPolicy(Protocol):
    """A new split of what the paid channels have left, summing to the same total."""

    def __call__(self, history: ChannelHistory) -> dict[Channel, int]: ...


def keep_plan(history: ChannelHistory) -> dict[Channel, int]:
    """The fixed split: the launch allocation, never revisited."""
    return dict(history.planned)


@dataclass
class ArmTally:
    exposures: int = 0
    conversions: int = 0
    net_cents: int = 0
    net_squares: float = 0.0

    def arm(self, variant_id: str) -> Arm:
        revenue = self.net_cents / 100
        return Arm(variant_id, self.exposures, self.conversions, revenue, self.net_squares)


@dataclass
class Experiment:
    truth: TestTruth
    weights: dict[str, float]
    tallies: dict[str, ArmTally]
    winner: str | None = None
    declared_at: int | None = None  # the cycle
    frozen_cycles: int = 0
    state: ExperimentState | None = None  # what analytics keeps between cycles

    @classmethod
    def even(cls, truth: TestTruth) -> Experiment:
        ids = [v.variant_id for v in truth.variants]
        return cls(truth, dict.fromkeys(ids, 1 / len(ids)), {i: ArmTally() for i in ids})

    def evaluate(self, cycle: int, rules: VariantRules, seed: int) -> None:
        arms = [tally.arm(i) for i, tally in self.tallies.items()]
        found, self.state = decide(self.truth.key, arms, self.state, rules.policy, seed)
        if found.winner is not None and self.winner is None:
            self.winner, self.declared_at = found.winner, cycle
        self.frozen_cycles += found.sample_ratio_mismatch
        self.weights = dict(found.weights)


@dataclass
class Run:
    budget_cents: int
    spend_by_cycle: list[dict[Channel, int]] = field(default_factory=list)
    weights_by_cycle: list[dict[TestKey, dict[str, float]]] = field(default_factory=list)
    net_cents: int = 0
    expected_net_cents: float = 0.0
    experiments: dict[TestKey, Experiment] = field(default_factory=dict)

    @property
    def spent_cents(self) -> int:
        return sum(sum(spend.values()) for spend in self.spend_by_cycle)


def simulate(
    market: Market,
    seed: int,
    cycles: int,
    launch: Mapping[Channel, Decimal],
    channels: ChannelPolicy = keep_plan,
    rules: VariantRules | None = None,
) -> Run:
    """One campaign of ``cycles`` cycles; ``rules`` None keeps the variants evenly split."""
    rng = np.random.default_rng(seed)
    run = Run(budget_cents=market.budget_per_cycle_cents * cycles)
    run.experiments = {t.key: Experiment.even(t) for t in market.tests}
    even = {key: dict(e.weights) for key, e in run.experiments.items()}
    planned = split_cents(run.budget_cents, launch)
    spent, net = dict.fromkeys(planned, 0), dict.fromkeys(planned, 0)
    for cycle in range(cycles):
        left = cycles - cycle
        spend = {
            c: amount if c in FIXED_COST_CHANNELS or left == 1 else amount // left
            for c, amount in planned.items()
        }
        weights = _traffic(run.experiments, even, rules)
        cycle_spend = CycleSpend(cycles, dict(spent), spend)
        outcomes = play_cycle(market, cycle_spend, weights, rng)
        run.spend_by_cycle.append(spend)
        run.weights_by_cycle.append(weights)
        run.expected_net_cents += expected_net(market, cycle_spend, weights)
        run.net_cents += sum(o.net_cents for o in outcomes)
        for channel in planned:
            spent[channel] += spend[channel]
            planned[channel] -= spend[channel]
            net[channel] += sum(o.net_cents for o in outcomes if o.key[1] is channel)
        _tally(run.experiments, outcomes)
        if rules is not None:
            for index, experiment in enumerate(run.experiments.values()):
                experiment.evaluate(cycle, rules, seed=seed * 1_000_003 + cycle * 1_009 + index)
        if left > 1:
            live = {c: a for c, a in planned.items() if c not in FIXED_COST_CHANNELS}
            planned |= channels(ChannelHistory(cycles, left - 1, live, dict(spent), dict(net)))
    return run


def _traffic(
    experiments: Mapping[TestKey, Experiment],
    even: Mapping[TestKey, dict[str, float]],
    rules: VariantRules | None,
) -> dict[TestKey, dict[str, float]]:
    def follows(key: TestKey) -> bool:
        return rules is not None and (key[1] is Channel.EMAIL or rules.ads_follow_weights)

    return {key: dict(e.weights if follows(key) else even[key]) for key, e in experiments.items()}


def _tally(experiments: Mapping[TestKey, Experiment], outcomes: Sequence[ArmOutcome]) -> None:
    for outcome in outcomes:
        tally = experiments[outcome.key].tallies[outcome.variant_id]
        tally.exposures += outcome.exposures
        tally.conversions += outcome.conversions
        tally.net_cents += outcome.net_cents
        tally.net_squares += outcome.net_squares


def split_cents(total: int, shares: Mapping[Channel, Decimal]) -> dict[Channel, int]:
    """``total`` cents in proportion to ``shares``, summing exactly: floors, then the cents
    left over to the largest remainders."""
    weight = sum(shares.values(), Decimal(0))
    exact = {c: Decimal(total) * s / weight for c, s in shares.items()}
    parts = {c: int(x.to_integral_value(rounding=ROUND_FLOOR)) for c, x in exact.items()}
    by_remainder = sorted(exact, key=lambda c: exact[c] - parts[c], reverse=True)
    for channel in by_remainder[: total - sum(parts.values())]:
        parts[channel] += 1
    return parts
