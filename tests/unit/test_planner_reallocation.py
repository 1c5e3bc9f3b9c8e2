"""Re-planning the remaining budget: towards the better channel, always within the guardrails."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.planner.reallocation import ReallocationRules, reallocate
from services.planner.response_curves import ResponseCurve
from shared.events.common import Channel
from shared.money import Money

PRICE = Money.of("100.00", "USD")
RULES = ReallocationRules(max_shift=Decimal("0.2"), min_share=Decimal("0.1"))
EMAIL, SOCIAL, WEB = Channel.EMAIL, Channel.SOCIAL, Channel.WEB
CURVE = ResponseCurve(purchases_ceiling=500, saturation_spend=20000)


def usd(amount: str | int | Decimal) -> Money:
    return Money.of(amount, "USD")


def test_the_channel_that_earns_more_gains_within_the_shift_limit() -> None:
    remaining = {SOCIAL: usd("5000.00"), WEB: usd("5000.00")}
    curves = {SOCIAL: ResponseCurve(purchases_ceiling=5000, saturation_spend=20000), WEB: CURVE}
    spent = {SOCIAL: usd("1000.00"), WEB: usd("1000.00")}
    result = reallocate(remaining, curves, spent, PRICE, RULES)
    assert result.allocation == {SOCIAL: usd("7000.00"), WEB: usd("3000.00")}
    assert result.moved == usd("2000.00")
    assert result.reasons[0].startswith("social gains 2000.00 USD (5000.00 USD -> 7000.00 USD)")
    assert result.reasons[-1].startswith("shift capped at 20% of the remaining 10000.00 USD")


def test_a_short_step_is_taken_whole() -> None:
    remaining = {SOCIAL: usd("5000.00"), WEB: usd("5000.00")}
    # Equal curves, but web has spent more: the optimum evens out total spend by 600.
    spent = {SOCIAL: usd("1000.00"), WEB: usd("1600.00")}
    result = reallocate(remaining, {SOCIAL: CURVE, WEB: CURVE}, spent, PRICE, RULES)
    assert result.allocation == {SOCIAL: usd("5300.00"), WEB: usd("4700.00")}
    assert result.moved == usd("300.00")


def test_nothing_moves_when_the_split_is_already_the_best() -> None:
    remaining = {SOCIAL: usd("5000.00"), WEB: usd("5000.00")}
    spent = {SOCIAL: usd("10.00"), WEB: usd("10.00")}
    result = reallocate(remaining, {SOCIAL: CURVE, WEB: CURVE}, spent, PRICE, RULES)
    assert result.allocation == remaining
    assert result.moved == usd(0)


def test_a_single_live_channel_keeps_everything() -> None:
    result = reallocate({WEB: usd("12.34")}, {WEB: CURVE}, {}, PRICE, RULES)
    assert result.allocation == {WEB: usd("12.34")}
    assert result.moved == usd(0)


def test_an_impossible_minimum_share_is_refused() -> None:
    rules = ReallocationRules(max_shift=Decimal("0.2"), min_share=Decimal("0.6"))
    with pytest.raises(ValueError, match="min_share"):
        reallocate({SOCIAL: usd(1), WEB: usd(1)}, {SOCIAL: CURVE, WEB: CURVE}, {}, PRICE, rules)


cents = st.integers(min_value=0, max_value=5_000_000)
curves = st.builds(
    ResponseCurve,
    purchases_ceiling=st.floats(min_value=0, max_value=1e6),
    saturation_spend=st.floats(min_value=100, max_value=1e6),
)


@st.composite
def situations(
    draw: st.DrawFn,
) -> tuple[
    dict[Channel, Money], dict[Channel, ResponseCurve], dict[Channel, Money], ReallocationRules
]:
    channels = draw(st.lists(st.sampled_from(list(Channel)), min_size=1, max_size=3, unique=True))
    remaining = {c: usd(Decimal(draw(cents)) / 100) for c in channels}
    spent = {c: usd(Decimal(draw(cents)) / 100) for c in channels}
    rules = ReallocationRules(
        max_shift=Decimal(draw(st.integers(0, 100))) / 100,
        min_share=Decimal(draw(st.integers(0, 100 // len(channels)))) / 100,
    )
    return remaining, {c: draw(curves) for c in channels}, spent, rules


@settings(max_examples=300, deadline=None)
@given(situations())
def test_guardrails_hold_for_any_situation(
    situation: tuple[
        dict[Channel, Money], dict[Channel, ResponseCurve], dict[Channel, Money], ReallocationRules
    ],
) -> None:
    remaining, channel_curves, spent, rules = situation
    result = reallocate(remaining, channel_curves, spent, PRICE, rules)
    total = sum((m.amount for m in remaining.values()), Decimal(0))
    assert set(result.allocation) == set(remaining)
    assert sum(m.amount for m in result.allocation.values()) == total
    assert all(m.amount >= 0 for m in result.allocation.values())
    gained = sum(
        (max(result.allocation[c].amount - remaining[c].amount, Decimal(0)) for c in remaining),
        Decimal(0),
    )
    assert gained == result.moved.amount
    assert result.moved.amount <= (rules.max_shift * total).quantize(Decimal("0.01"), ROUND_FLOOR)
    floor = (rules.min_share * total).quantize(Decimal("0.01"), ROUND_FLOOR)
    for channel, amount in result.allocation.items():
        assert amount.amount >= min(floor, remaining[channel].amount)
    assert result.reasons
