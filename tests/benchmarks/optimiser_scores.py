"""What the optimiser benchmark scores in a run: its regret against the best fixed policy
in hindsight, and how each declared winner compares with the truth."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tests.benchmarks.optimiser_loop import Experiment, Run

OUTCOMES = ("true best", "within the threshold", "wrong", "none")


def declared(experiment: Experiment, loss_threshold: float) -> str:
    """``true best``, ``within the threshold`` (a near tie: choosing it truly loses less
    than the threshold, relative to its rate, as the verdict's expected loss is measured),
    ``wrong`` (it truly loses more), or ``none``."""
    if experiment.winner is None:
        return "none"
    truth = experiment.truth
    best = truth.best()
    chosen = next(v for v in truth.variants if v.variant_id == experiment.winner)
    if chosen.variant_id == best.variant_id:
        return "true best"
    loss = (best.conversion_rate - chosen.conversion_rate) / chosen.conversion_rate
    return "within the threshold" if loss < loss_threshold else "wrong"


@dataclass(frozen=True)
class Winners:
    """Declared winners over runs: per outcome the count of tests, and the runs with one
    wrong winner or more."""

    outcomes: Counter[str]
    runs_with_wrong: int
    runs: int

    @classmethod
    def of(cls, runs: Sequence[Run], loss_threshold: float) -> Winners:
        per_run = [[declared(e, loss_threshold) for e in run.experiments.values()] for run in runs]
        return cls(
            Counter(o for outcomes in per_run for o in outcomes),
            sum("wrong" in outcomes for outcomes in per_run),
            len(runs),
        )

    @property
    def wrong_runs_share(self) -> float:
        return self.runs_with_wrong / self.runs

    @property
    def tests(self) -> int:
        return sum(self.outcomes.values())


def log_log_slope(lengths: Sequence[int], regrets: Sequence[float]) -> float:
    """Least-squares slope of log regret on log length: below 1, regret grows sub-linearly."""
    xs = [math.log(n) for n in lengths]
    ys = [math.log(max(r, 1e-9)) for r in regrets]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / spread
