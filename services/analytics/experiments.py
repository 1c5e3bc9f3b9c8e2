"""A/B verdicts per segment x channel, reported the way GrowthBook's Bayesian engine reports
them, and the traffic weights Thompson sampling gives each live variant.

For each metric (conversion per recipient, net revenue per recipient) and each variant
against the control (the first variant), the posterior of the **relative uplift**
``(treatment - control) / control`` is normal, as in GrowthBook's effect model with its
default flat prior: mean the observed uplift, variance from the delta method over both
arms' sample variances. From it:

- ``chance_to_win``: P(uplift > 0);
- ``interval``: the 95% credible interval of the uplift;
- ``risk``: the expected loss of shipping the variant, E[max(0, -uplift)], and of keeping
  the control, E[max(0, uplift)], in relative terms: s·pdf(m/s) ∓ m·cdf(∓m/s) for a
  posterior of mean m and standard deviation s.

A **sample-ratio mismatch** (Pearson's chi-square of the assignment counts against the
weights they were drawn with, p below ``SRM_P_VALUE``, GrowthBook's default) flags the test
and freezes it: no winner, weights unchanged. Otherwise the **leader** (the best observed
conversion rate) wins once, against every other arm, the comparison has enough data, the
leader's chance to be better is above ``WIN_CHANCE`` (GrowthBook's 95%: where it calls a
result a win) and the expected loss of keeping the leader is under the loss threshold.
Enough data is GrowthBook's minimum sample for a binomial metric (``minSampleSize``, 150 by
default), counted in conversions, not recipients: both arms have converted and the larger
has ``min_conversions``. The normal approximation behind the risk is far too sure on a
handful of conversions, and the optimiser looks at the test every cycle: below that count,
a leader of a few lucky conversions would win as often as a true one. Until then Thompson
sampling already moves the traffic towards the likely best.

GrowthBook's own package, ``gbstats``, is not a dependency: its releases pin numpy and
pandas below 2, which this project (Python 3.13, numpy 2) cannot install; the formulas
are few and written here with scipy, following its ``EffectBayesianABTest``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2, norm

CREDIBLE_MASS = 0.95
SRM_P_VALUE = 0.001  # GrowthBook's default threshold for a sample-ratio mismatch
WIN_CHANCE = 0.95  # GrowthBook's default chance to win above which a variant has won
THOMPSON_DRAWS = 10_000


@dataclass(frozen=True)
class Arm:
    """One variant's observations: recipients, converters, and net revenue per recipient
    as a sum and a sum of squares (in the reporting currency's major unit)."""

    variant_id: str
    recipients: int
    conversions: int
    revenue: float = 0.0
    revenue_squares: float = 0.0

    def __post_init__(self) -> None:
        if self.recipients < 0 or not 0 <= self.conversions <= self.recipients:
            raise ValueError(
                f"{self.variant_id}: conversions must be between 0 and the recipients "
                f"({self.conversions} of {self.recipients})"
            )

    @property
    def conversion_rate(self) -> float:
        return self.conversions / self.recipients if self.recipients else 0.0

    @property
    def conversion_variance(self) -> float:
        rate = self.conversion_rate
        return rate * (1 - rate)

    @property
    def revenue_mean(self) -> float:
        return self.revenue / self.recipients if self.recipients else 0.0

    @property
    def revenue_variance(self) -> float:
        if self.recipients < 2:
            return 0.0
        n = self.recipients
        return max(0.0, (self.revenue_squares - self.revenue**2 / n) / (n - 1))


@dataclass(frozen=True)
class Uplift:
    """The posterior of one variant's relative uplift over the control on one metric."""

    mean: float
    stddev: float
    chance_to_win: float
    interval: tuple[float, float]
    risk_of_shipping: float  # E[max(0, -uplift)]: what choosing the variant may lose
    risk_of_keeping: float  # E[max(0, uplift)]: what keeping the control may lose


@dataclass(frozen=True)
class VariantVerdict:
    variant_id: str
    conversion: Uplift | None  # None for the control, or when the control has no data
    revenue: Uplift | None


@dataclass(frozen=True)
class Verdict:
    """A test's state: per variant uplifts, the SRM check and the winner, if any."""

    control: str
    variants: list[VariantVerdict]
    srm_p_value: float
    sample_ratio_mismatch: bool
    winner: str | None
    reason: str


def relative_uplift(
    control_mean: float,
    control_variance: float,
    control_n: int,
    treatment_mean: float,
    treatment_variance: float,
    treatment_n: int,
) -> Uplift | None:
    """GrowthBook's effect posterior under a flat prior; None when the control's mean is
    zero (no relative uplift exists) or either arm is empty or has no variance at all."""
    if control_n == 0 or treatment_n == 0 or control_mean == 0:
        return None
    mean = (treatment_mean - control_mean) / control_mean
    variance = treatment_variance / (control_mean**2 * treatment_n) + (
        control_variance * treatment_mean**2 / (control_mean**4 * control_n)
    )
    if variance <= 0:
        return None
    stddev = math.sqrt(variance)
    tail = (1 - CREDIBLE_MASS) / 2
    low, high = norm.ppf([tail, 1 - tail], mean, stddev)
    z = mean / stddev
    density, below = float(norm.pdf(z)), float(norm.cdf(-z))
    return Uplift(
        mean=mean,
        stddev=stddev,
        chance_to_win=float(norm.sf(0, mean, stddev)),
        interval=(float(low), float(high)),
        risk_of_shipping=stddev * density - mean * below,
        risk_of_keeping=stddev * density + mean * (1 - below),
    )


def srm_p_value(assigned: Sequence[int], weights: Sequence[float]) -> float:
    """Pearson's chi-square of assignment counts against the weights they were drawn with;
    1 when nothing was assigned. Arms of weight 0 take no part."""
    total = sum(assigned)
    if not total:
        return 1.0
    weight = sum(weights)
    live = [(n, w) for n, w in zip(assigned, weights, strict=True) if w > 0]
    statistic = sum((n - w / weight * total) ** 2 / (w / weight * total) for n, w in live)
    return float(chi2.sf(statistic, len(live) - 1))


def verdict(
    arms: Sequence[Arm],
    weights: Sequence[float],
    *,
    min_conversions: int,
    loss_threshold: float,
) -> Verdict:
    """The test of ``arms`` (the first is the control) assigned by ``weights``."""
    if len(arms) < 2:
        raise ValueError("a test needs a control and at least one variant")
    control = arms[0]
    verdicts = [VariantVerdict(control.variant_id, None, None)] + [
        VariantVerdict(
            arm.variant_id, _conversion_uplift(control, arm), _revenue_uplift(control, arm)
        )
        for arm in arms[1:]
    ]
    p_value = srm_p_value([arm.recipients for arm in arms], weights)

    def decided(winner: str | None, reason: str, mismatch: bool = False) -> Verdict:
        return Verdict(control.variant_id, verdicts, p_value, mismatch, winner, reason)

    if p_value < SRM_P_VALUE:
        return decided(None, f"sample ratio mismatch (p = {p_value:.2g}): frozen", True)
    leader = max(arms, key=lambda arm: arm.conversion_rate)
    rivals = [arm for arm in arms if arm is not leader]
    if not all(enough_data(leader, rival, min_conversions) for rival in rivals):
        return decided(
            None,
            f"collecting: the leading variant needs {min_conversions} conversions, every other one",
        )
    if not _wins(leader, arms, loss_threshold):
        return decided(
            None,
            f"{leader.variant_id} leads, not yet with a chance to win above {WIN_CHANCE:.0%} "
            f"and an expected loss under {loss_threshold:.2%} against all",
        )
    winner = leader.variant_id
    return decided(
        winner,
        f"{winner}: chance to win above {WIN_CHANCE:.0%} and expected loss under "
        f"{loss_threshold:.2%} against all",
    )


def enough_data(baseline: Arm, rival: Arm, min_conversions: int) -> bool:
    """GrowthBook's rule for showing a binomial metric's result: both arms converted, and
    the larger counts ``min_conversions`` conversions (its ``minSampleSize``)."""
    return (
        baseline.conversions > 0
        and rival.conversions > 0
        and max(baseline.conversions, rival.conversions) >= min_conversions
    )


def _wins(leader: Arm, arms: Sequence[Arm], loss_threshold: float) -> bool:
    """Whether, against every other arm, the leader's chance to be better is above
    ``WIN_CHANCE`` and sticking with it is expected to lose under the threshold."""
    for rival in arms:
        if rival is leader:
            continue
        uplift = _conversion_uplift(leader, rival)  # the rival's uplift over the leader
        if uplift is None or uplift.risk_of_keeping >= loss_threshold:
            return False
        if 1 - uplift.chance_to_win <= WIN_CHANCE:
            return False
    return True


def _conversion_uplift(baseline: Arm, treatment: Arm) -> Uplift | None:
    return relative_uplift(
        baseline.conversion_rate,
        baseline.conversion_variance,
        baseline.recipients,
        treatment.conversion_rate,
        treatment.conversion_variance,
        treatment.recipients,
    )


def _revenue_uplift(baseline: Arm, treatment: Arm) -> Uplift | None:
    return relative_uplift(
        baseline.revenue_mean,
        baseline.revenue_variance,
        baseline.recipients,
        treatment.revenue_mean,
        treatment.revenue_variance,
        treatment.recipients,
    )


def thompson_weights(
    arms: Sequence[Arm], *, floor: float, seed: int, draws: int = THOMPSON_DRAWS
) -> dict[str, float]:
    """Each arm's share of the next wave: the posterior probability that it converts best
    (Beta(1 + conversions, 1 + misses) per arm, ``draws`` joint samples), each raised to at
    least ``floor`` and the rest shared in proportion. Reproducible for a ``seed``."""
    if not 0 <= floor * len(arms) <= 1:
        raise ValueError(f"a floor of {floor} for {len(arms)} variants exceeds the traffic")
    rng = np.random.default_rng(seed)
    samples = np.column_stack(
        [rng.beta(1 + arm.conversions, 1 + arm.recipients - arm.conversions, draws) for arm in arms]
    )
    best = np.bincount(samples.argmax(axis=1), minlength=len(arms)) / draws
    shares = floor + (1 - floor * len(arms)) * best
    return {arm.variant_id: float(share) for arm, share in zip(arms, shares, strict=True)}
