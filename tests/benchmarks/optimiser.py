"""``make bench`` part ``optimiser``: the optimiser's loop against a synthetic market with
known truth (``optimiser_market.py``, ``optimiser_default_market.py``), offline, next to
the fixed launch split, over many seeds. No broker or database: the product's own rules
(A/B verdicts, Thompson weights, the planner's reallocation) run in process.

Printed: net revenue of each policy and the optimiser's gain, regret against the best
fixed policy in hindsight, how often the true best variant was declared the winner and
how often a wrong one was, and regret over several campaign lengths; then whether the
issue's targets are met. Nothing is asserted.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from services.planner.reallocation import ReallocationRules
from tests.benchmarks.optimiser_channels import (
    MAX_SHIFT,
    PlannerReallocation,
    best_fixed,
    campaign_prior,
    launch_split,
    planner_settings,
)
from tests.benchmarks.optimiser_default_market import default_market
from tests.benchmarks.optimiser_loop import Run, VariantRules, keep_plan, simulate
from tests.benchmarks.optimiser_scores import OUTCOMES, Winners, log_log_slope

GAIN_TARGET = 0.15
WRONG_RUNS_TARGET = 0.05
# Regret that grows linearly has a slope of 1.00; sub-linear growth must show clearly below.
SUBLINEAR_SLOPE = 0.9


@dataclass(frozen=True)
class Policy:
    label: str
    rules: VariantRules | None  # None: variants kept evenly split
    reallocates: bool  # False: the launch split kept


@dataclass(frozen=True)
class Length:
    """Every policy's runs at one campaign length, and the best fixed policy's expectation."""

    cycles: int
    best: float
    runs: dict[str, list[Run]]
    # What each part alone earns at best, in expectation: the gain's ceiling per part.
    best_parts: dict[str, float]

    def regret(self, label: str) -> float:
        return statistics.fmean(self.best - r.expected_net_cents for r in self.runs[label]) / 100

    def net(self, label: str) -> list[float]:
        return [r.net_cents / 100 for r in self.runs[label]]


def optimiser(seeds: int, cycles: int, lengths: Sequence[int], rules: VariantRules) -> None:
    started = time.perf_counter()
    policies = (
        Policy("fixed launch split", None, reallocates=False),
        Policy("optimiser", rules, reallocates=True),
        Policy("optimiser, ad sets kept even", replace(rules, ads_follow_weights=False), True),
    )
    # Where the gain comes from, at the default length only.
    parts = (
        Policy("variants only (launch split kept)", rules, reallocates=False),
        Policy("channels only (variants even)", None, reallocates=True),
    )
    results = {n: campaign(n, seeds, policies) for n in sorted({*lengths, cycles})}
    results[cycles].runs.update(campaign(cycles, seeds, parts).runs)
    elapsed = time.perf_counter() - started
    print(f"\noptimiser simulation: default market, {cycles} cycles, seeds 0-{seeds - 1}")
    print(
        f"ran against: simulation, no broker or database; Python {platform.python_version()}; "
        f"floor {rules.floor}, loss threshold {rules.loss_threshold}, min conversions "
        f"{rules.min_conversions}, max shift {MAX_SHIFT}; {elapsed:.1f} s"
    )
    revenue_table(results[cycles], policies + parts, rules.loss_threshold)
    regret_table([results[n] for n in sorted(lengths)], policies, rules.loss_threshold)


def campaign(cycles: int, seeds: int, policies: Sequence[Policy]) -> Length:
    market, settings = default_market(), planner_settings()
    launch = launch_split(market, settings)
    reallocation = PlannerReallocation(
        campaign_prior(settings, cycles),
        ReallocationRules(max_shift=MAX_SHIFT, min_share=settings.planner_min_share),
    )
    runs = {
        p.label: [
            simulate(
                market, seed, cycles, launch, reallocation if p.reallocates else keep_plan, p.rules
            )
            for seed in range(seeds)
        ]
        for p in policies
    }
    floor = settings.planner_min_share
    best_parts = {
        "best variants in hindsight, launch split kept (expected)": best_fixed(
            market, cycles, launch, floor, best_split=False
        ),
        "best paid split in hindsight, variants even (expected)": best_fixed(
            market, cycles, launch, floor, best_variants=False
        ),
    }
    return Length(cycles, best_fixed(market, cycles, launch, floor), runs, best_parts)


def revenue_table(result: Length, policies: Sequence[Policy], loss_threshold: float) -> None:
    fixed = statistics.fmean(result.net(policies[0].label))
    best = result.best / 100
    print("\n| policy | mean net revenue | vs fixed | regret vs best fixed in hindsight |")
    print("|---|---|---|---|")
    for policy in policies:
        nets = result.net(policy.label)
        mean = statistics.fmean(nets)
        regret = result.regret(policy.label)
        print(
            f"| {policy.label} | ${mean:,.0f} (sd ${statistics.stdev(nets):,.0f}) | "
            f"{mean / fixed - 1:+.1%} | ${regret:,.0f} ({regret / best:.1%} of best) |"
        )
    hindsight = "best fixed policy in hindsight (expected)"
    print(f"| {hindsight} | ${best:,.0f} | {best / fixed - 1:+.1%} | 0 |")
    for label, cents in result.best_parts.items():
        part, regret = cents / 100, best - cents / 100
        print(
            f"| {label} | ${part:,.0f} | {part / fixed - 1:+.1%} | "
            f"${regret:,.0f} ({regret / best:.1%} of best) |"
        )
    print(
        f"\n| declared winner at loss threshold {loss_threshold} | "
        + " | ".join(OUTCOMES)
        + " | runs with a wrong winner |"
    )
    print("|---|" + "---|" * (len(OUTCOMES) + 1))
    for policy in [p for p in policies if p.rules is not None]:
        winners = Winners.of(result.runs[policy.label], loss_threshold)
        shares = " | ".join(
            f"{winners.outcomes[o]} of {winners.tests} ({winners.outcomes[o] / winners.tests:.0%})"
            for o in OUTCOMES
        )
        runs = f"{winners.runs_with_wrong} of {winners.runs} ({winners.wrong_runs_share:.0%})"
        print(f"| {policy.label} | {shares} | {runs} |")
    for policy in [p for p in policies if p.rules is not None and p.reallocates]:
        gain = statistics.fmean(result.net(policy.label)) / fixed - 1
        wrong = Winners.of(result.runs[policy.label], loss_threshold).wrong_runs_share
        print(
            f"{policy.label}: net revenue {gain:+.1%} vs fixed (target >= +{GAIN_TARGET:.0%}: "
            f"{_met(gain >= GAIN_TARGET)}); runs with a wrong winner {wrong:.0%} "
            f"(target <= {WRONG_RUNS_TARGET:.0%}: {_met(wrong <= WRONG_RUNS_TARGET)})"
        )


def regret_table(
    results: Sequence[Length], policies: Sequence[Policy], loss_threshold: float
) -> None:
    print("\n| cycles | " + " | ".join(f"{p.label}: regret (per cycle)" for p in policies) + " |")
    print("|---|" + "---|" * len(policies))
    for result in results:
        cells = " | ".join(
            f"${result.regret(p.label):,.0f} (${result.regret(p.label) / result.cycles:,.0f})"
            for p in policies
        )
        print(f"| {result.cycles} | {cells} |")
    lengths = [r.cycles for r in results]
    for policy in policies:
        regrets = [r.regret(policy.label) for r in results]
        slope, tail = log_log_slope(lengths, regrets), log_log_slope(lengths[-2:], regrets[-2:])
        print(
            f"{policy.label}: log-log slope of regret on length {slope:.2f} overall, "
            f"{tail:.2f} from {lengths[-2]} to {lengths[-1]} cycles (sub-linear, both at most "
            f"{SUBLINEAR_SLOPE}: {_met(max(slope, tail) <= SUBLINEAR_SLOPE)})"
        )
    # More cycles are more looks at each test: the wrong-winner target must hold at every length.
    for policy in [p for p in policies if p.rules is not None]:
        runs = [Winners.of(r.runs[policy.label], loss_threshold) for r in results]
        shares = ", ".join(
            f"{n} cycles {w.wrong_runs_share:.0%}" for n, w in zip(lengths, runs, strict=True)
        )
        print(f"{policy.label}: runs with a wrong winner by length: {shares}")


def _met(condition: bool) -> str:
    return "met" if condition else "NOT met"
