"""The optimiser's rules: arm statistics from the report's cells (clipping, revenue squares,
marginal ROAS) and each cycle's weights (floor, winner for good, SRM freeze)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.analytics.arm_statistics import ArmTally, arm_tallies, channel_figures
from services.analytics.breakdowns import Cell, Cells
from services.analytics.conversions import Conversion
from services.analytics.evaluation import ExperimentState, OptimiserPolicy, decide, evaluate
from services.analytics.experiments import Arm
from services.analytics.settings import AnalyticsSettings
from shared.events.common import Channel
from shared.events.optimisation import ChannelFigures
from shared.events.payments import Attribution
from shared.money import Money

NOW = datetime(2026, 3, 2, tzinfo=UTC)
POLICY = OptimiserPolicy(min_conversions=150, loss_threshold=0.05, exploration_floor=0.1)
EMAIL_TEST = ("high_value", Channel.EMAIL)


def usd(amount: str) -> Money:
    return Money.of(Decimal(amount), "USD")


def conversion(
    customer: str, net: str, variant: str, channel: Channel = Channel.EMAIL
) -> Conversion:
    return Conversion(
        payment_id=f"pay-{customer}-{net}",
        customer_id=customer,
        campaign_id="c",
        processor="stripe",
        paid_at=NOW,
        attribution=Attribution(segment_id="high_value", channel=channel, variant_id=variant),
        click_id=None,
        path=(),
        gross=usd(net),
        fee=usd("0.00"),
        net=usd(net),
    )


def cells_of(conversions: list[Conversion], **cells: Cell) -> Cells:
    found = Cells("USD")
    for key, cell in cells.items():
        channel, variant = key.split("__")
        found.by_key[(Channel(channel), "high_value", variant)] = cell
    for paid in conversions:
        found.count_conversion(paid)
    return found


def test_arms_count_people_emailed_or_ad_clicks_and_clip_conversions_to_them() -> None:
    paid = [
        conversion("x", "10.00", "a"),
        conversion("y", "20.00", "a"),
        conversion("z", "30.00", "a"),  # three payers credited to an arm only two were sent
        conversion("w", "5.00", "s", Channel.SOCIAL),
    ]
    cells = cells_of(
        paid, email__a=Cell(emailed=2, clicks=9), social__s=Cell(clicks=4, impressions=900)
    )
    email, social = arm_tallies(cells, paid)
    assert (email.exposures, email.conversions, email.net) == (2, 2, Decimal("60.00"))
    assert (social.exposures, social.conversions) == (4, 1)  # ads: clicks, not impressions


def test_revenue_squares_sum_each_converters_net_after_refunds() -> None:
    paid = [
        conversion("x", "10.00", "a"),
        conversion("x", "5.00", "a"),  # the same customer again: one converter of 15
        conversion("y", "-2.00", "a"),  # refunded beyond its net, fee kept by the processor
    ]
    [tally] = arm_tallies(cells_of(paid, email__a=Cell(emailed=10)), paid)
    assert tally.conversions == 2
    assert tally.net == Decimal("13.00")
    assert tally.net_squares == Decimal("229.0000")  # 15² + 2²
    arm = tally.as_arm()
    assert (arm.revenue, arm.revenue_squares) == (13.0, 229.0)
    assert arm.revenue_variance == pytest.approx((229 - 13**2 / 10) / 9)


def test_arms_without_a_segment_or_variant_are_left_out() -> None:
    cells = Cells("USD")
    cells.by_key[(Channel.EMAIL, "", "")] = Cell(emailed=3)
    assert arm_tallies(cells, []) == []


def test_marginal_roas_is_net_added_per_spend_added_since_the_last_cycle() -> None:
    cells = Cells("USD")
    cells.by_key[(Channel.SOCIAL, "high_value", "s")] = Cell(
        spend=Decimal("150"), net=Decimal("400")
    )
    cells.by_key[(Channel.EMAIL, "high_value", "a")] = Cell(spend=Decimal("100"), net=Decimal("50"))
    first = channel_figures(cells)
    assert [f.marginal_roas for f in first] == [None, None]  # nothing to compare with
    before = [
        ChannelFigures(channel=channel, spend=usd("100"), net=usd(net), conversions=0, clicks=0)
        for channel, net in ((Channel.SOCIAL, "300"), (Channel.EMAIL, "10"))
    ]
    email, social = channel_figures(cells, before)
    assert social.marginal_roas == 2.0  # (400 - 300) / (150 - 100)
    assert email.marginal_roas is None  # no new spend: no ratio


def tally(variant: str, exposures: int, conversions: int) -> ArmTally:
    return ArmTally(
        "high_value", Channel.EMAIL, variant, exposures, conversions, Decimal(0), Decimal(0)
    )


def test_first_cycle_weights_sum_to_one_and_respect_the_floor() -> None:
    found = evaluate("c", 0, NOW, [tally("a", 50, 5), tally("b", 50, 1), tally("c", 50, 1)],
                     [], {}, POLICY, "USD")  # fmt: skip
    [verdict] = found.event.experiments
    assert sum(verdict.weights.values()) == pytest.approx(1.0)
    assert min(verdict.weights.values()) >= 0.1
    assert verdict.winner is None
    assert found.states[EMAIL_TEST].expected == pytest.approx({"a": 50, "b": 50, "c": 50})


def test_a_test_of_one_variant_is_no_experiment() -> None:
    found = evaluate("c", 0, NOW, [tally("a", 50, 5)], [], {}, POLICY, "USD")
    assert found.event.experiments == []
    assert len(found.event.arms) == 1


def test_a_winner_takes_all_traffic_and_keeps_it() -> None:
    arms = [Arm("a", 2000, 40), Arm("b", 2000, 200)]
    verdict, state = decide(EMAIL_TEST, arms, None, POLICY, seed=1)
    assert (verdict.winner, verdict.weights) == ("b", {"a": 0.0, "b": 1.0})
    later = [Arm("a", 2000, 40), Arm("b", 2400, 200)]  # b's lead shrinks: it stays the winner
    again, _ = decide(EMAIL_TEST, later, state, POLICY, seed=2)
    assert (again.winner, again.weights) == ("b", {"a": 0.0, "b": 1.0})
    assert not again.sample_ratio_mismatch  # the 400 new ones were all b's, as weighted


def test_a_sample_ratio_mismatch_freezes_the_weights_in_force() -> None:
    prior = ExperimentState({"a": 0.7, "b": 0.3}, {"a": 500.0, "b": 500.0}, {"a": 500, "b": 500})
    skewed = [Arm("a", 600, 30), Arm("b", 1400, 70)]  # 1,000 new: 100 a, 900 b; 700/300 expected
    verdict, state = decide(EMAIL_TEST, skewed, prior, POLICY, seed=1)
    assert verdict.sample_ratio_mismatch
    assert verdict.winner is None
    assert verdict.weights == {"a": 0.7, "b": 0.3}
    assert state.expected == pytest.approx({"a": 1200.0, "b": 800.0})


def test_weights_that_moved_are_no_mismatch_when_exposures_followed_them() -> None:
    prior = ExperimentState({"a": 0.8, "b": 0.2}, {"a": 500.0, "b": 500.0}, {"a": 500, "b": 500})
    followed = [Arm("a", 1300, 30), Arm("b", 700, 10)]
    verdict, _ = decide(EMAIL_TEST, followed, prior, POLICY, seed=1)
    assert not verdict.sample_ratio_mismatch


def test_ad_clicks_are_never_a_sample_ratio_mismatch() -> None:
    arms = [Arm("a", 50, 1), Arm("b", 5000, 10)]
    verdict, _ = decide(("high_value", Channel.SOCIAL), arms, None, POLICY, seed=1)
    assert (verdict.srm_p_value, verdict.sample_ratio_mismatch) == (1.0, False)


def test_the_floor_shrinks_to_an_equal_share_for_many_variants() -> None:
    arms = [Arm(v, 10, 1) for v in "abcdefghijkl"]  # 12 variants x 0.1 > 1
    verdict, _ = decide(EMAIL_TEST, arms, None, POLICY, seed=1)
    assert sum(verdict.weights.values()) == pytest.approx(1.0)
    assert all(w == pytest.approx(1 / 12) for w in verdict.weights.values())


def test_the_same_campaign_and_cycle_draw_the_same_weights() -> None:
    tallies = [tally("a", 80, 6), tally("b", 80, 4)]
    first = evaluate("c", 3, NOW, tallies, [], {}, POLICY, "USD").event.experiments
    again = evaluate("c", 3, NOW, tallies, [], {}, POLICY, "USD").event.experiments
    assert first[0].weights == again[0].weights


def test_no_winner_is_declared_on_a_handful_of_conversions_at_the_default_settings() -> None:
    # 3 against 12 of 2,000: four times the rate, and still too few buyers for the normal
    # approximation to be sure of anything; GrowthBook waits for 150 conversions.
    arms = [Arm("a", 2000, 3), Arm("b", 2000, 12)]
    verdict, state = decide(EMAIL_TEST, arms, None, AnalyticsSettings().optimiser_policy, seed=1)
    assert verdict.winner is None
    assert state.winner is None
    assert verdict.weights["b"] > verdict.weights["a"]  # Thompson still leans towards b
