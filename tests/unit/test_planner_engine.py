"""The planner's offline engine: curves, allocation, forecast and learning, with known answers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.planner.allocation import ShareLimits, allocate_budget
from services.planner.app import planning_policy
from services.planner.domain import (
    ChannelObservation,
    EmailAudience,
    channel_observations,
    email_audience,
    learned_curves,
)
from services.planner.engines.llm import (
    ChannelSpend,
    PlanProposal,
    planning_facts,
    proposal_violations,
)
from services.planner.engines.offline import OfflinePlanner
from services.planner.forecast import forecast_revenue
from services.planner.response_curves import Observation, ResponseCurve
from services.planner.settings import PlannerSettings
from shared.events.campaigns import CampaignPerformance, CampaignRequested, CampaignSegmented
from shared.events.common import Channel
from shared.money import Money
from tests.support.factories import campaign_request, campaign_segmented

PRICE = Money.of("100.00", "USD")
NO_LIMITS = ShareLimits(minimum=Decimal(0), maximum=Decimal(1))
EMAIL, SOCIAL, WEB = Channel.EMAIL, Channel.SOCIAL, Channel.WEB


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def total(allocation: dict[Channel, Money]) -> Decimal:
    return sum((m.amount for m in allocation.values()), Decimal(0))


def test_identical_channels_split_the_budget_equally() -> None:
    curve = ResponseCurve(purchases_ceiling=500, saturation_spend=20000)
    allocation = allocate_budget(usd("30000.00"), {EMAIL: curve, WEB: curve}, PRICE, NO_LIMITS)
    assert allocation == {EMAIL: usd("15000.00"), WEB: usd("15000.00")}


def test_optimum_equalises_marginal_revenue_as_solved_analytically() -> None:
    a1, b1, a2, b2, budget = 100 * 800.0, 20000.0, 100 * 1500.0, 40000.0, 50000.0
    # a1/b1 exp(-x1/b1) = a2/b2 exp(-x2/b2) and x1 + x2 = budget, solved for x1.
    x1 = (math.log(a1 * b2 / (a2 * b1)) + budget / b2) / (1 / b1 + 1 / b2)
    curves = {
        EMAIL: ResponseCurve(purchases_ceiling=800, saturation_spend=b1),
        SOCIAL: ResponseCurve(purchases_ceiling=1500, saturation_spend=b2),
    }
    allocation = allocate_budget(usd("50000.00"), curves, PRICE, NO_LIMITS)
    assert abs(float(allocation[EMAIL].amount) - x1) <= 0.01
    assert abs(float(allocation[SOCIAL].amount) - (budget - x1)) <= 0.01
    assert total(allocation) == Decimal("50000.00")


def test_share_limits_bind_on_a_dominant_and_a_negligible_channel() -> None:
    curves = {
        EMAIL: ResponseCurve(purchases_ceiling=100000, saturation_spend=1e9),
        SOCIAL: ResponseCurve(purchases_ceiling=1, saturation_spend=1e9),
        WEB: ResponseCurve(purchases_ceiling=2, saturation_spend=1e9),
    }
    limits = ShareLimits(minimum=Decimal("0.10"), maximum=Decimal("0.70"))
    allocation = allocate_budget(usd("1000.00"), curves, PRICE, limits)
    assert allocation == {EMAIL: usd("700.00"), SOCIAL: usd("100.00"), WEB: usd("200.00")}


def test_a_single_channel_gets_the_whole_budget_whatever_the_limits() -> None:
    curves = {SOCIAL: ResponseCurve(purchases_ceiling=10, saturation_spend=100)}
    limits = ShareLimits(minimum=Decimal("0.10"), maximum=Decimal("0.70"))
    assert allocate_budget(usd("1234.56"), curves, PRICE, limits) == {SOCIAL: usd("1234.56")}


@settings(max_examples=60, deadline=None)
@given(
    cents=st.integers(min_value=1, max_value=10**10),
    channels=st.lists(st.sampled_from(list(Channel)), min_size=1, max_size=3, unique=True),
    ceilings=st.lists(st.floats(min_value=0, max_value=1e6), min_size=3, max_size=3),
)
def test_allocation_sums_exactly_to_the_budget_within_the_limits(
    cents: int, channels: list[Channel], ceilings: list[float]
) -> None:
    budget = Money(amount=Decimal(cents) / 100, currency="USD")
    curves = {
        c: ResponseCurve(purchases_ceiling=ceilings[i], saturation_spend=10000.0 * (i + 1))
        for i, c in enumerate(channels)
    }
    limits = ShareLimits(minimum=Decimal("0.10"), maximum=Decimal("0.70"))
    allocation = allocate_budget(budget, curves, PRICE, limits)
    assert set(allocation) == set(channels)
    assert total(allocation) == budget.amount
    if len(channels) > 1:
        for spend in allocation.values():
            # Within the limits, loosened by under a cent only when a tiny budget needs it.
            assert budget.amount * limits.minimum - Decimal("0.01") < spend.amount
            assert spend.amount < budget.amount * limits.maximum + Decimal("0.01")


def test_interval_contains_the_point_prediction_and_is_reproducible() -> None:
    curves = {
        EMAIL: ResponseCurve(purchases_ceiling=1000, saturation_spend=20000),
        WEB: ResponseCurve(purchases_ceiling=900, saturation_spend=30000),
    }
    allocation = {EMAIL: usd("20000.00"), WEB: usd("10000.00")}
    forecast = forecast_revenue(allocation, curves, PRICE, "campaign-1")
    assert forecast.revenue_low < forecast.revenue < forecast.revenue_high
    assert forecast.roi_low < forecast.roi < forecast.roi_high
    assert forecast_revenue(allocation, curves, PRICE, "campaign-1") == forecast


def observations(spend: str, revenue: str, times: int) -> list[ChannelObservation]:
    seen = Observation(spend=Decimal(spend), revenue=Decimal(revenue), price=Decimal("100"))
    return [ChannelObservation(EMAIL, seen)] * times


def test_learning_moves_the_curve_to_the_observations() -> None:
    policy = planning_policy(PlannerSettings())
    prior = policy.curves[EMAIL]
    observed_revenue = prior.revenue(10000.0, 100.0) / 2
    history = observations("10000", f"{observed_revenue:.2f}", times=3)
    learned = learned_curves(policy, [EMAIL], history)[EMAIL]
    assert learned.revenue(10000.0, 100.0) == pytest.approx(observed_revenue, rel=1e-6)
    assert learned.observations == 3
    too_few = learned_curves(policy, [EMAIL], history[:2])[EMAIL]
    assert too_few == prior


def test_plan_predicts_what_its_allocation_earns_and_explains_it() -> None:
    request = CampaignRequested.model_validate(campaign_request("plan-1"))
    planner = OfflinePlanner(planning_policy(PlannerSettings()))
    plan = planner.plan(request, datetime(2026, 1, 1, tzinfo=UTC))
    assert plan.engine == "offline"
    assert total(plan.allocation) == request.budget.amount
    assert plan.predicted_revenue_interval is not None
    assert plan.predicted_roi_interval is not None
    assert plan.predicted_roi_interval.low <= plan.predicted_roi <= plan.predicted_roi_interval.high
    for channel, spend in plan.allocation.items():
        assert f"{channel.value} {spend} ->" in plan.rationale  # "email 18120.75 USD ->"
    assert str(plan.predicted_revenue) in plan.rationale
    assert plan.schedule.ends_at - plan.schedule.starts_at == timedelta(days=14)
    assert plan.schedule.send_windows is not None
    assert set(plan.schedule.send_windows) == set(request.channels)


def test_performance_after_the_end_without_channel_revenue_is_split_as_predicted() -> None:
    request = CampaignRequested.model_validate(campaign_request("plan-2"))
    plan = OfflinePlanner(planning_policy(PlannerSettings())).plan(
        request, datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert plan.predicted_revenue_by_channel is not None
    early = plan.schedule.ends_at - timedelta(days=1)
    performance = CampaignPerformance(
        campaign_id="plan-2",
        as_of=plan.schedule.ends_at,
        gross_revenue=plan.predicted_revenue.times(Decimal(2)),
        fees=usd("0"),
        net_revenue=usd("0"),
        payments_completed=0,
        payments_failed=0,
        success_rate=0,
        average_transaction=usd("0"),
        processor_mix=[],
        reach=0,
    )
    assert channel_observations(plan, performance.model_copy(update={"as_of": early})) == []
    learned = {o.channel: o.observation for o in channel_observations(plan, performance)}
    for channel, predicted in plan.predicted_revenue_by_channel.items():
        assert learned[channel].spend == plan.allocation[channel].amount
        assert learned[channel].revenue == pytest.approx(2 * predicted.amount, abs=Decimal("0.05"))


@pytest.mark.parametrize(
    ("minimum", "maximum"), [("0.40", "0.70"), ("0.10", "0.40"), ("0.60", "0.50")]
)
def test_infeasible_share_limits_are_refused_at_start_up(minimum: str, maximum: str) -> None:
    with pytest.raises(ValueError, match="PLANNER_M"):
        PlannerSettings(planner_min_share=Decimal(minimum), planner_max_share=Decimal(maximum))


def test_a_rationale_quoting_an_amount_the_plan_does_not_hold_is_a_violation() -> None:
    request = CampaignRequested.model_validate(campaign_request("figures"))
    policy = planning_policy(PlannerSettings())
    baseline = OfflinePlanner(policy).plan(request, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    facts = planning_facts(request, baseline, policy)
    split = [
        ChannelSpend(channel=Channel.EMAIL, amount=Decimal("20000.00")),
        ChannelSpend(channel=Channel.SOCIAL, amount=Decimal("17500.00")),
        ChannelSpend(channel=Channel.WEB, amount=Decimal("12500.00")),
    ]

    def violations(rationale: str) -> list[str]:
        return proposal_violations(facts, PlanProposal(allocation=split, rationale=rationale))

    assert proposal_violations(facts, facts.reference) == []  # the offline plan's own words
    assert violations("Email gets 20,000.00 of the 50000.00; social 17500 and web 12,500.") == []
    assert violations("Email, social and web: 40% to email, a 3x return, 2 weeks.") == []
    assert violations("Email gets 30,000.00; social and web share the rest.") == [
        "the rationale quotes 30,000.00, which is not an amount of the plan"
    ]


def test_a_proposed_amount_finer_than_a_cent_is_a_violation() -> None:
    request = CampaignRequested.model_validate(campaign_request("cents"))
    policy = planning_policy(PlannerSettings())
    baseline = OfflinePlanner(policy).plan(request, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    split = [
        ChannelSpend(channel=Channel.EMAIL, amount=Decimal("20000.005")),
        ChannelSpend(channel=Channel.SOCIAL, amount=Decimal("17499.995")),
        ChannelSpend(channel=Channel.WEB, amount=Decimal("12500.00")),
    ]
    proposal = PlanProposal(allocation=split, rationale="Email, social and web.")

    violations = proposal_violations(planning_facts(request, baseline, policy), proposal)

    assert "allocation[email] 20000.005 is finer than 0.01" in violations
    assert "allocation[social] 17499.995 is finer than 0.01" in violations


def test_a_small_email_audience_caps_what_email_is_predicted_and_given() -> None:
    request = CampaignRequested.model_validate(campaign_request("audience"))
    planner = OfflinePlanner(planning_policy(PlannerSettings()))
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    segmented = CampaignSegmented.model_validate(
        campaign_segmented(
            "earlier",
            segments=[
                {
                    "segment_id": "loyal",
                    "name": "Loyal",
                    "size": 400,
                    "email_reachable": 300,
                    "predicted_conversion_rate": 0.1,
                },
                {
                    "segment_id": "cold",
                    "name": "Cold",
                    "size": 900,
                    "email_reachable": 100,
                    "predicted_conversion_rate": 0.02,
                },
            ],
        )
    )
    audience = email_audience(segmented)

    unbounded = planner.plan(request, now)
    bounded = planner.plan(request, now, audience=audience)

    assert (audience.reachable, audience.expected_purchases) == (400, pytest.approx(32.0))
    email_revenue = bounded.predicted_revenue_by_channel[Channel.EMAIL]
    assert email_revenue.amount <= 32 * request.product.price.amount  # 32 purchases at most
    assert bounded.allocation[Channel.EMAIL] < unbounded.allocation[Channel.EMAIL]
    assert total(bounded.allocation) == request.budget.amount
    assert "audience of 400 opted-in customers" in bounded.rationale


def test_email_is_sent_when_the_base_last_engaged_and_elsewhere_as_by_default() -> None:
    request = CampaignRequested.model_validate(campaign_request("windows"))
    planner = OfflinePlanner(planning_policy(PlannerSettings()))
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    engagement = [1] * 168
    for hour_of_week, count in (
        (1 * 24 + 14, 90),
        (1 * 24 + 15, 70),
        (3 * 24 + 20, 60),
        (3 * 24 + 21, 40),
    ):
        engagement[hour_of_week] = count  # Tuesday 14-16 and Thursday 20-22, UTC
    active = EmailAudience(
        reachable=500, expected_purchases=10**6, engagement_by_hour=tuple(engagement)
    )
    sparse = EmailAudience(
        reachable=500, expected_purchases=10**6, engagement_by_hour=(0,) * 167 + (5,)
    )

    windows = planner.plan(request, now, audience=active).schedule.send_windows
    defaults = planner.plan(request, now, audience=sparse).schedule.send_windows

    assert windows is not None
    assert defaults is not None
    assert [(w.weekday, w.start_hour, w.end_hour, w.timezone) for w in windows[Channel.EMAIL]] == [
        ("tue", 14, 16, "UTC"),
        ("thu", 20, 22, "UTC"),
    ]
    assert windows[Channel.SOCIAL] == defaults[Channel.SOCIAL]
    assert [(w.weekday, w.start_hour, w.timezone) for w in defaults[Channel.EMAIL]] == [
        ("tue", 9, "local"),
        ("thu", 9, "local"),
    ]


@pytest.mark.parametrize("in_windows", [True, False])
def test_the_schedule_keeps_whether_the_request_sends_in_local_windows(in_windows: bool) -> None:
    request = CampaignRequested.model_validate(
        campaign_request("plan-now", send_in_local_windows=in_windows)
    )
    plan = OfflinePlanner(planning_policy(PlannerSettings())).plan(
        request, datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert plan.schedule.send_in_local_windows is in_windows
