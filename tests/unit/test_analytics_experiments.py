"""A/B verdicts: the uplift posterior against independent computations, the SRM check,
when a winner is declared, and Thompson sampling's weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chisquare

from services.analytics.experiments import (
    Arm,
    Uplift,
    relative_uplift,
    srm_p_value,
    thompson_weights,
    verdict,
)


def conversion_uplift(control: Arm, treatment: Arm) -> Uplift | None:
    return relative_uplift(
        control.conversion_rate,
        control.conversion_variance,
        control.recipients,
        treatment.conversion_rate,
        treatment.conversion_variance,
        treatment.recipients,
    )


def test_the_uplift_posterior_matches_the_worked_example() -> None:
    # 100 of 1,000 vs 130 of 1,000: uplift 30%; delta-method variance
    # 0.13 x 0.87 / (0.1² x 1000) + 0.1 x 0.9 x 0.13² / (0.1⁴ x 1000) = 0.026520.
    uplift = conversion_uplift(Arm("a", 1000, 100), Arm("b", 1000, 130))
    assert uplift is not None
    assert uplift.mean == pytest.approx(0.30)
    assert uplift.stddev == pytest.approx(math.sqrt(0.026520), rel=1e-4)
    assert uplift.chance_to_win == pytest.approx(0.96726, abs=1e-4)  # Φ(0.3 / 0.162850)
    half = 1.959964 * math.sqrt(0.026520)
    assert uplift.interval == pytest.approx((0.3 - half, 0.3 + half), abs=1e-5)
    # E[X⁺] - E[X⁻] = E[X] for any posterior: the two risks differ by the mean.
    assert uplift.risk_of_keeping - uplift.risk_of_shipping == pytest.approx(uplift.mean)


def test_the_uplift_posterior_agrees_with_sampling_the_beta_posteriors() -> None:
    # Independent of the normal approximation: draw each arm's rate from its Beta posterior.
    # The approximation is close in the body and looser in the tails, where the risks live.
    rng = np.random.default_rng(11)
    control, treatment = Arm("a", 4000, 400), Arm("b", 4000, 420)
    a = rng.beta(1 + 400, 1 + 3600, 400_000)
    b = rng.beta(1 + 420, 1 + 3580, 400_000)
    lift = b / a - 1
    uplift = conversion_uplift(control, treatment)
    assert uplift is not None
    assert uplift.chance_to_win == pytest.approx(float((lift > 0).mean()), abs=0.01)
    assert uplift.risk_of_shipping == pytest.approx(float(np.maximum(0, -lift).mean()), rel=0.15)
    assert uplift.risk_of_keeping == pytest.approx(float(np.maximum(0, lift).mean()), rel=0.05)
    assert uplift.interval[0] == pytest.approx(float(np.quantile(lift, 0.025)), abs=0.01)
    assert uplift.interval[1] == pytest.approx(float(np.quantile(lift, 0.975)), abs=0.01)


def test_equal_arms_are_a_coin_toss_and_no_uplift_exists_over_a_zero_control() -> None:
    even = conversion_uplift(Arm("a", 500, 50), Arm("b", 500, 50))
    assert even is not None
    assert even.chance_to_win == pytest.approx(0.5)
    assert even.interval[0] == pytest.approx(-even.interval[1])
    assert conversion_uplift(Arm("a", 500, 0), Arm("b", 500, 5)) is None
    assert conversion_uplift(Arm("a", 0, 0), Arm("b", 500, 5)) is None


def test_the_srm_check_is_pearson_s_chi_square_and_flags_a_skewed_split() -> None:
    assert srm_p_value([5000, 5000], [0.5, 0.5]) == pytest.approx(1.0)
    skewed = srm_p_value([5200, 4800], [0.5, 0.5])  # chi² = 2 x 200² / 5000 = 16
    assert skewed == pytest.approx(chisquare([5200, 4800]).pvalue)
    assert skewed < 0.001
    # Against unequal weights, an unequal split that follows them is no mismatch.
    assert srm_p_value([7000, 3000], [0.7, 0.3]) == pytest.approx(1.0)
    assert srm_p_value([0, 0], [0.5, 0.5]) == 1.0


def test_a_skewed_split_freezes_the_test_even_with_a_clear_leader() -> None:
    arms = [Arm("a", 6000, 300), Arm("b", 4000, 400)]
    result = verdict(arms, [0.5, 0.5], min_conversions=150, loss_threshold=0.05)
    assert result.sample_ratio_mismatch
    assert result.winner is None
    assert "sample ratio mismatch" in result.reason


def test_no_winner_before_the_leader_has_growthbook_s_minimum_conversions() -> None:
    arms = [Arm("a", 900, 20), Arm("b", 900, 90)]
    result = verdict(arms, [0.5, 0.5], min_conversions=150, loss_threshold=0.05)
    assert (result.winner, result.sample_ratio_mismatch) == (None, False)
    assert result.reason.startswith("collecting")


def test_a_clear_leader_wins_and_a_close_race_does_not() -> None:
    # Relative expected loss under 0.5%: what choosing the leader may cost, in conversions.
    clear = [Arm("a", 5000, 250), Arm("b", 5000, 400), Arm("c", 5000, 260)]
    won = verdict(clear, [1, 1, 1], min_conversions=150, loss_threshold=0.005)
    assert won.winner == "b"
    assert [v.variant_id for v in won.variants] == ["a", "b", "c"]
    assert won.variants[0].conversion is None  # the control has no uplift over itself
    close = [Arm("a", 5000, 250), Arm("b", 5000, 262)]
    assert verdict(close, [1, 1], min_conversions=150, loss_threshold=0.005).winner is None


def test_a_leader_needs_a_95_percent_chance_to_win_not_only_a_small_expected_loss() -> None:
    # 200 against 190 of 10,000: keeping b may lose 1.8% of its rate, under 5%, but b is
    # better with a chance of only 70%.
    arms = [Arm("a", 10_000, 190), Arm("b", 10_000, 200)]
    result = verdict(arms, [1, 1], min_conversions=150, loss_threshold=0.05)
    keeping_b = relative_uplift(0.02, 0.02 * 0.98, 10_000, 0.019, 0.019 * 0.981, 10_000)
    assert keeping_b is not None
    assert keeping_b.risk_of_keeping < 0.05
    assert 1 - keeping_b.chance_to_win < 0.95
    assert result.winner is None
    assert result.reason.startswith("b leads, not yet with a chance to win above 95%")


def test_a_rival_that_never_converted_leaves_the_test_collecting() -> None:
    # GrowthBook shows no result while either arm of a comparison has no conversion.
    arms = [Arm("a", 5000, 0), Arm("b", 5000, 200)]
    result = verdict(arms, [1, 1], min_conversions=150, loss_threshold=0.05)
    assert result.winner is None
    assert result.reason.startswith("collecting")


def test_revenue_per_recipient_has_its_own_uplift() -> None:
    # 1,000 recipients each: 100 buyers of 150.00 vs 100 buyers of 300.00.
    control = Arm("a", 1000, 100, revenue=15_000.0, revenue_squares=100 * 150.0**2)
    treatment = Arm("b", 1000, 100, revenue=30_000.0, revenue_squares=100 * 300.0**2)
    result = verdict([control, treatment], [1, 1], min_conversions=100, loss_threshold=0.05)
    revenue = result.variants[1].revenue
    assert revenue is not None
    assert revenue.mean == pytest.approx(1.0)
    assert result.variants[1].conversion is not None
    assert result.variants[1].conversion.mean == pytest.approx(0.0)


def test_thompson_weights_favour_the_likely_best_keep_the_floor_and_replay_by_seed() -> None:
    arms = [Arm("a", 2000, 100), Arm("b", 2000, 160), Arm("c", 2000, 90)]
    weights = thompson_weights(arms, floor=0.05, seed=3)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert min(weights.values()) >= 0.05
    assert max(weights, key=lambda k: weights[k]) == "b"
    assert weights == thompson_weights(arms, floor=0.05, seed=3)
    fresh = thompson_weights([Arm("a", 0, 0), Arm("b", 0, 0)], floor=0.1, seed=1)
    assert fresh["a"] == pytest.approx(0.5, abs=0.02)  # nothing known: an even split


def test_impossible_inputs_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="b: conversions must be between 0 and the recipients"):
        Arm("b", 10, 11)
    with pytest.raises(ValueError, match=r"floor of 0\.4 for 3 variants"):
        thompson_weights([Arm("a", 1, 0), Arm("b", 1, 0), Arm("c", 1, 0)], floor=0.4, seed=1)
    with pytest.raises(ValueError, match="a control and at least one variant"):
        verdict([Arm("a", 1, 0)], [1], min_conversions=1, loss_threshold=0.05)
