"""One optimisation cycle in the planner: live curves, what is left, and the rationale's numbers."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.planner.engines.quoted_numbers import KnownNumbers, unsupported_numbers
from services.planner.engines.rationale import (
    ReallocationRationale,
    offline_rationale,
    rationale_violations,
    reallocation_facts,
)
from services.planner.live_curves import live_curves
from services.planner.reallocation import ReallocationRules
from services.planner.replanning import replan
from services.planner.response_curves import ResponseCurve
from shared.events.campaigns import CampaignPlanned
from shared.events.common import Channel
from shared.events.optimisation import CampaignEvaluated, ChannelFigures
from shared.money import Money, sum_money
from tests.support.factories import campaign_planned

EMAIL, SOCIAL, WEB = Channel.EMAIL, Channel.SOCIAL, Channel.WEB
RULES = ReallocationRules(max_shift=Decimal("0.2"), min_share=Decimal("0.1"))
PLAN = CampaignPlanned.model_validate(campaign_planned("c-replan"))
PRICE = PLAN.product.price
CURVES = {
    EMAIL: ResponseCurve(purchases_ceiling=667, saturation_spend=20000),
    SOCIAL: ResponseCurve(purchases_ceiling=889, saturation_spend=40000),
    WEB: ResponseCurve(purchases_ceiling=600, saturation_spend=30000),
}


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def figures(channel: Channel, spend: str, net: str) -> ChannelFigures:
    return ChannelFigures(channel=channel, spend=usd(spend), net=usd(net), conversions=0, clicks=0)


def evaluated(*channels: ChannelFigures, cycle: int = 0) -> CampaignEvaluated:
    return CampaignEvaluated(
        campaign_id=PLAN.campaign_id,
        cycle=cycle,
        as_of=datetime(2026, 3, 2, tzinfo=UTC),
        arms=[],
        experiments=[],
        channels=list(channels),
    )


def test_live_figures_move_a_ceiling_by_their_credibility_and_leave_small_spend_near_the_prior():
    strong = figures(SOCIAL, "40000.00", "400000.00")
    tiny = figures(WEB, "1.00", "0.00")
    updated = live_curves(CURVES, [strong, tiny], PRICE)
    # Social spent its saturation spend and earned 2,667 purchases' worth: Bühlmann's
    # weight v / (v + 1 / 0.4²) on an unlearned curve, v the larger of earned and expected.
    observed = 400000 / (149.99 * (1 - 1 / math.e))
    earned = 400000 / 149.99
    weight = earned / (earned + 1 / 0.4**2)
    assert updated[SOCIAL].purchases_ceiling == pytest.approx(
        (1 - weight) * 889 + weight * observed, abs=0.01
    )
    # A dollar on web, where the curve expects 0.02 purchases: a third of a percent.
    assert 598 < updated[WEB].purchases_ceiling < 600
    assert updated[EMAIL] == CURVES[EMAIL]


def test_a_channel_earning_nothing_sinks_and_a_learned_curve_yields_more_slowly():
    silent = figures(SOCIAL, "4000.00", "0.00")  # the curve expects 85 purchases here
    unlearned = live_curves(CURVES, [silent], PRICE)[SOCIAL].purchases_ceiling
    learned_curves = {SOCIAL: replace(CURVES[SOCIAL], uncertainty=0.05, observations=8)}
    learned = live_curves(learned_curves, [silent], PRICE)[SOCIAL].purchases_ceiling
    expected = 889 * -math.expm1(-0.1)
    assert unlearned == pytest.approx(889 / (1 + expected * 0.4**2))
    assert 0 < unlearned < 889 * 0.1
    assert unlearned < learned < 889
    assert learned == pytest.approx(889 / (1 + expected * 0.05**2))


def test_the_channel_earning_far_more_gains_and_email_keeps_its_fixed_cost():
    evaluation = evaluated(
        figures(EMAIL, "20000.00", "1000.00"),
        figures(SOCIAL, "5000.00", "60000.00"),
        figures(WEB, "5000.00", "100.00"),
    )
    curves = live_curves(CURVES, evaluation.channels, PRICE)
    result = replan(PLAN, PLAN.allocation, evaluation, curves, RULES)
    assert result.remaining == usd("20000.00")
    assert result.live_remaining == {SOCIAL: usd("12500.00"), WEB: usd("7500.00")}
    assert result.reallocation.moved == usd("4000.00")  # the 20% cap binds
    assert result.allocation == {
        EMAIL: usd("20000.00"),
        SOCIAL: usd("21500.00"),
        WEB: usd("8500.00"),
    }
    assert sum_money(list(result.allocation.values()), "USD") == PLAN.budget
    assert result.changed


def test_an_overspent_channel_shrinks_the_others_so_the_budget_is_never_passed():
    evaluation = evaluated(
        figures(EMAIL, "20000.00", "0.00"),
        figures(SOCIAL, "20000.00", "0.00"),
        figures(WEB, "2500.00", "0.00"),
    )
    result = replan(PLAN, PLAN.allocation, evaluation, CURVES, RULES)
    assert result.remaining == usd("7500.00")
    assert sum_money(list(result.allocation.values()), "USD") == PLAN.budget
    assert result.allocation[SOCIAL] >= usd("20000.00")


def test_offline_rationale_quotes_only_the_decisions_numbers():
    evaluation = evaluated(
        figures(SOCIAL, "5000.00", "60000.00"), figures(WEB, "5000.00", "100.00"), cycle=3
    )
    result = replan(PLAN, PLAN.allocation, evaluation, CURVES, RULES)
    net = {f.channel: f.net for f in evaluation.channels}
    facts = reallocation_facts(PLAN.name, 3, result, net, RULES)
    offline = offline_rationale(facts)
    assert offline.rationale.startswith("Cycle 3: ")
    assert rationale_violations(facts, offline) == []
    invented = ReallocationRationale(rationale="Social returns 4.7x what web does; move 35%.")
    assert rationale_violations(facts, invented) == [
        "the rationale quotes 4.7, which the decision does not hold",
        "the rationale quotes 35%, which the decision does not hold",
    ]
    quoting = ReallocationRationale(
        rationale=f"Social earned $60,000 on 5,000 spent; {facts.moved.amount:,} moved, "
        "the most the 20% shift limit allows, while web keeps at least 10%."
    )
    assert rationale_violations(facts, quoting) == []


def test_numbers_match_in_their_usual_formats_and_nothing_else():
    known = KnownNumbers.of([Decimal("1999.87"), Decimal("2.10")], [Decimal("0.2")], ["15%"])
    held = "about 2,000, 1,999.87, $1999.87, 2.1, 20%, 20.0 %, 15% and 0.2"
    assert unsupported_numbers(held, known) == []
    assert unsupported_numbers("2000.00, 1.5x, 3 cycles, 21%", known) == [
        "2000.00",
        "1.5",
        "3",
        "21%",
    ]
