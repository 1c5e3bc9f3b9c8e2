"""Predicted conversion per segment: a feature-based prior, updated by past campaign outcomes.

The prior is a logistic model of the segment's average recency, frequency and engagement.
History turns it into a Beta-Binomial posterior: the prior counts as ``prior_strength``
pseudo-customers reached, and every past campaign adds the members it reached and the
ones who bought. With no history the estimate is the prior, with a wide interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta as beta_distribution

from services.segmenter.features import CustomerColumns, Floats

INTERVAL_TAILS = (0.1, 0.9)  # an 80% interval


@dataclass(frozen=True)
class ConversionModel:
    """P(purchase) = 1 / (1 + e^-(intercept + Σ coefficient x feature)).

    Features are the segment's averages of three scores in [0, 1]: purchase recency
    (1 bought today, 0 at ``recency_horizon_days`` or never), frequency (orders, capped at
    ``frequency_cap``) and engagement recency (1 today, 0 at ``engagement_horizon_days`` or
    never). The intercept puts a cold segment near 1%; a segment perfect on all three
    features tops out near 47%. Hand-set: history, through the posterior, corrects it.
    """

    intercept: float = -4.6
    recency: float = 1.8
    frequency: float = 1.2
    engagement: float = 1.5
    recency_horizon_days: int = 365
    frequency_cap: int = 10
    engagement_horizon_days: int = 90

    def conversion_rate(self, members: CustomerColumns) -> float:
        if len(members) == 0:
            return 0.0
        recency, frequency, engagement = self.scores(members)
        return self.rate(float(recency.mean()), float(frequency.mean()), float(engagement.mean()))

    def scores(self, members: CustomerColumns) -> tuple[Floats, Floats, Floats]:
        """Each member's recency, frequency and engagement score: sums of these, kept per
        segment while the base streams past, give the segment's averages."""
        recency = _freshness(members.days_since_purchase, self.recency_horizon_days)
        recency[~members.has_purchased] = 0.0
        frequency = np.minimum(members.orders_count, self.frequency_cap) / self.frequency_cap
        engagement = _freshness(members.days_since_engaged, self.engagement_horizon_days)
        return recency, frequency.astype(np.float64), engagement

    def rate(self, recency: float, frequency: float, engagement: float) -> float:
        """The conversion of a segment with these average scores."""
        logit = (
            self.intercept
            + self.recency * recency
            + self.frequency * frequency
            + self.engagement * engagement
        )
        return round(1 / (1 + math.exp(-logit)), 4)


def _freshness(days: Floats, horizon_days: int) -> Floats:
    known = np.nan_to_num(days, nan=float(horizon_days))
    fresh: Floats = np.clip(1 - known / horizon_days, 0.0, 1.0)
    return fresh


@dataclass(frozen=True)
class Outcome:
    """Customers a segment's past campaigns reached, and how many of them bought."""

    reached: int = 0
    conversions: int = 0

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(self.reached + other.reached, self.conversions + other.conversions)


@dataclass(frozen=True)
class ConversionEstimate:
    mean: float
    low: float
    high: float


def posterior(prior_mean: float, prior_strength: float, history: Outcome) -> ConversionEstimate:
    """Beta(alpha, beta), alpha = mean x strength, beta = (1 - mean) x strength, plus history.

    Conversions above the reach (late or unattributed payments) are capped at the reach.
    """
    mean = min(max(prior_mean, 1e-6), 1 - 1e-6)
    conversions = min(history.conversions, history.reached)
    alpha = mean * prior_strength + conversions
    beta = (1 - mean) * prior_strength + history.reached - conversions
    low, high = (float(q) for q in beta_distribution.ppf(INTERVAL_TAILS, alpha, beta))
    posterior_mean = alpha / (alpha + beta)
    # A heavily skewed Beta can put its 10th percentile above its mean; the interval still
    # has to contain the estimate it brackets.
    return ConversionEstimate(
        mean=round(posterior_mean, 4),
        low=round(min(low, posterior_mean), 4),
        high=round(max(high, posterior_mean), 4),
    )
