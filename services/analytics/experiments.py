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
and freezes it: no winner, weights unchanged. Otherwise a variant **wins** once every arm
has ``min_sample`` recipients and its conversion risk is under the loss threshold while
every rival's chance to beat it is small: the best arm by chance to win, whose expected
loss against each other arm stays under the threshold.

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
    min_sample: int,
    loss_threshold: float,
) -> Verdict:
    """The test of ``arms`` (the first is the control) assigned by ``weights``."""
    if len(arms) < 2:
        raise ValueError("a test needs a control and at least one variant")
    control = arms[0]
    verdicts = [VariantVerdict(control.variant_id, None, None)] + [
        VariantVerdict(
            arm.variant_id,
            relative_uplift(
                control.conversion_rate,
                control.conversion_variance,
                control.recipients,
                arm.conversion_rate,
                arm.conversion_variance,
                arm.recipients,
            ),
            relative_uplift(
                control.revenue_mean,
                control.revenue_variance,
                control.recipients,
                arm.revenue_mean,
                arm.revenue_variance,
                arm.recipients,
            ),
        )
        for arm in arms[1:]
    ]
    p_value = srm_p_value([arm.recipients for arm in arms], weights)

    def decided(winner: str | None, reason: str, mismatch: bool = False) -> Verdict:
        return Verdict(control.variant_id, verdicts, p_value, mismatch, winner, reason)

    if p_value < SRM_P_VALUE:
        return decided(None, f"sample ratio mismatch (p = {p_value:.2g}): frozen", True)
    if any(arm.recipients < min_sample for arm in arms):
        return decided(None, f"collecting: every variant needs {min_sample} recipients")
    winner = _winner(arms, loss_threshold)
    if winner is None:
        return decided(None, f"no variant's expected loss is under {loss_threshold:.2%} yet")
    return decided(winner, f"{winner}: expected loss under {loss_threshold:.2%} against all")


def _winner(arms: Sequence[Arm], loss_threshold: float) -> str | None:
    """The arm whose expected conversion loss against every other arm is under the
    threshold: each pair compared with the candidate as the baseline."""
    for candidate in arms:
        losses = []
        for rival in arms:
            if rival is candidate:
                continue
            uplift = relative_uplift(
                candidate.conversion_rate,
                candidate.conversion_variance,
                candidate.recipients,
                rival.conversion_rate,
                rival.conversion_variance,
                rival.recipients,
            )
            if uplift is None:
                break
            losses.append(uplift.risk_of_keeping)  # what sticking with the candidate loses
        else:
            if max(losses) < loss_threshold:
                return candidate.variant_id
    return None


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
