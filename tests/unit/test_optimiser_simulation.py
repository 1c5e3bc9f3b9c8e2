"""The optimiser benchmark's simulation keeps its books: it never spends more than the
budget, its traffic weights are shares, and a seed replays the same campaign. Its figures
are the benchmark's to print, never asserted here."""

from __future__ import annotations

import math

import pytest

from services.planner.reallocation import ReallocationRules
from tests.benchmarks.optimiser_channels import (
    MAX_SHIFT,
    PlannerReallocation,
    campaign_prior,
    launch_split,
    planner_settings,
)
from tests.benchmarks.optimiser_default_market import default_market
from tests.benchmarks.optimiser_loop import Run, VariantRules, simulate

CYCLES = 5


def optimised(seed: int, rules: VariantRules | None = None) -> Run:
    market, settings = default_market(), planner_settings()
    reallocation = PlannerReallocation(
        campaign_prior(settings, CYCLES),
        ReallocationRules(max_shift=MAX_SHIFT, min_share=settings.planner_min_share),
    )
    launch = launch_split(market, settings)
    return simulate(market, seed, CYCLES, launch, reallocation, rules or VariantRules())


@pytest.mark.parametrize("seed", [0, 1])
def test_the_optimiser_never_spends_more_than_the_budget(seed: int) -> None:
    run = optimised(seed)

    assert all(amount >= 0 for spend in run.spend_by_cycle for amount in spend.values())
    assert run.spent_cents <= run.budget_cents
    assert len(run.spend_by_cycle) == CYCLES


@pytest.mark.parametrize("seed", [0, 1])
def test_every_wave_is_split_by_weights_that_sum_to_one(seed: int) -> None:
    for rules in (VariantRules(), VariantRules(ads_follow_weights=False)):
        run = optimised(seed, rules)

        for weights in run.weights_by_cycle:
            for shares in weights.values():
                assert math.isclose(sum(shares.values()), 1.0)
                assert all(share >= 0 for share in shares.values())


def test_a_seed_replays_the_same_campaign() -> None:
    first, again = optimised(7), optimised(7)

    assert first.net_cents == again.net_cents
    assert first.spend_by_cycle == again.spend_by_cycle
    assert first.weights_by_cycle == again.weights_by_cycle
    assert {k: e.winner for k, e in first.experiments.items()} == {
        k: e.winner for k, e in again.experiments.items()
    }


def test_the_fixed_split_spends_the_whole_budget_on_even_variants() -> None:
    market, settings = default_market(), planner_settings()
    run = simulate(market, 0, CYCLES, launch_split(market, settings))

    assert run.spent_cents == run.budget_cents
    first = run.weights_by_cycle[0]
    assert all(weights == first for weights in run.weights_by_cycle)
