"""Fraud risk scoring: known answers, the thresholds' edges, and the score's shape."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.payment.domain.risk import (
    AmountHistory,
    RiskAssessment,
    RiskInputs,
    WindowCounts,
    assess,
    fingerprint,
)
from services.payment.domain.risk_policy import RiskPolicy
from shared.events.payments import RiskLevel
from shared.money import Money

POLICY = RiskPolicy()


def inputs(**overrides: Any) -> RiskInputs:
    """A returning customer's first payment today: 149.99 USD, in line with their own five
    completed payments and the campaign's basket, from their own country, no declines."""
    calm: dict[str, Any] = {
        "amount": Money.of("149.99", "USD"),
        "customer": WindowCounts(short=1, long=1),
        "ip": WindowCounts(short=1, long=1),
        "token": WindowCounts(short=1, long=1),
        "customer_history": AmountHistory(count=5, median=Decimal("140.00")),
        "campaign_basket": AmountHistory(count=200, median=Decimal("149.99")),
        "customer_is_new": False,
        "customer_declines": 0,
        "token_declines": 0,
        "ip_country": "US",
        "customer_country": "US",
    }
    return RiskInputs(**(calm | overrides))


def contributions(assessment: RiskAssessment) -> dict[str, float]:
    return {signal.signal: signal.contribution for signal in assessment.signals}


def test_returning_customer_paying_a_usual_amount_scores_low_with_nothing_raised() -> None:
    assessment = assess(inputs(), POLICY)

    assert (assessment.score, assessment.level, assessment.reasons) == (0.0, RiskLevel.LOW, [])
    assert set(contributions(assessment)) == {
        "customer_velocity",
        "ip_velocity",
        "token_velocity",
        "amount_vs_customer_history",
        "amount_vs_campaign_basket",
        "new_customer_high_amount",
        "country_mismatch",
        "repeated_declines",
    }


def test_six_payments_with_one_token_in_ten_minutes_are_held_for_review() -> None:
    assessment = assess(inputs(token=WindowCounts(short=6, long=6)), POLICY)

    assert (assessment.score, assessment.level) == (0.6, RiskLevel.REVIEW)
    assert assessment.reasons == ["token_velocity"]
    [token] = [s for s in assessment.signals if s.signal == "token_velocity"]
    assert token.detail == (
        "6 payments with this payment token in the last 10 minutes and 6 in the last 24 hours;"
        " over 3 in 10 minutes is unusual"
    )


def test_one_customer_token_and_ip_six_times_in_ten_minutes_is_review_not_block() -> None:
    six = WindowCounts(short=6, long=6)
    assessment = assess(inputs(customer=six, ip=six, token=six), POLICY)

    # 1 - (1 - 0.45)(1 - 0.1)(1 - 0.6)
    assert (assessment.score, assessment.level) == (0.802, RiskLevel.REVIEW)
    assert assessment.reasons == ["token_velocity", "customer_velocity", "ip_velocity"]


def test_new_customer_at_20x_the_basket_abroad_after_3_declines_is_blocked() -> None:
    assessment = assess(
        inputs(
            amount=Money.of("1000.00", "USD"),
            customer_history=AmountHistory(count=0, median=None),
            campaign_basket=AmountHistory(count=200, median=Decimal("50.00")),
            customer_is_new=True,
            ip_country="RO",
            customer_declines=3,
            token_declines=2,
        ),
        POLICY,
    )

    assert contributions(assessment) == {
        "customer_velocity": 0,
        "ip_velocity": 0,
        "token_velocity": 0,
        "amount_vs_customer_history": 0,
        "amount_vs_campaign_basket": 0.4,
        "new_customer_high_amount": 0.5,
        "country_mismatch": 0.3,
        "repeated_declines": 0.4,
    }
    # 1 - (1 - 0.4)(1 - 0.5)(1 - 0.3)(1 - 0.4)
    assert (assessment.score, assessment.level) == (0.874, RiskLevel.BLOCK)
    assert assessment.reasons[0] == "new_customer_high_amount"


def test_amount_far_above_the_customers_own_median_raises_its_signal_by_the_ratio() -> None:
    # 6.5x is halfway between "usual up to 3x" and "full at 10x": half the 0.5 cap.
    assessment = assess(inputs(amount=Money.of("910.00", "USD")), POLICY)

    assert contributions(assessment)["amount_vs_customer_history"] == 0.25


def test_too_short_a_history_is_not_judged_and_says_so() -> None:
    assessment = assess(
        inputs(
            amount=Money.of("5000.00", "USD"),
            customer_history=AmountHistory(count=2, median=Decimal("10.00")),
        ),
        POLICY,
    )

    [history] = [s for s in assessment.signals if s.signal == "amount_vs_customer_history"]
    assert history.contribution == 0
    assert history.detail.startswith("not checked:")


def test_payment_without_an_ip_address_is_not_counted_by_ip() -> None:
    assessment = assess(inputs(ip=None, ip_country=None), POLICY)

    assert contributions(assessment)["ip_velocity"] == 0
    assert assessment.level is RiskLevel.LOW


@pytest.mark.parametrize(
    ("review", "block", "level"),
    [
        (0.6, 0.85, RiskLevel.REVIEW),
        (0.6001, 0.85, RiskLevel.LOW),
        (0.5, 0.6, RiskLevel.BLOCK),
        (0.5, 0.6001, RiskLevel.REVIEW),
    ],
    ids=["at-review", "just-under-review", "at-block", "just-under-block"],
)
def test_a_score_exactly_at_a_threshold_reaches_that_level(
    review: float, block: float, level: RiskLevel
) -> None:
    # 3 token payments over the allowed 3, at 0.2 each: 0.6 (0.6000000000000001 in floats).
    policy = RiskPolicy(review=review, block=block)

    assessment = assess(inputs(token=WindowCounts(short=6, long=6)), policy)

    assert assessment.score == 0.6
    assert assessment.level is level


def test_thresholds_out_of_order_are_refused_with_both_values() -> None:
    with pytest.raises(ValueError, match=r"review <= block.*0\.9, 0\.6"):
        RiskPolicy(review=0.9, block=0.6)


def test_details_name_no_country_and_the_document_round_trips() -> None:
    assessment = assess(inputs(ip_country="KP", customer_country="NZ"), POLICY)

    document = assessment.as_document()
    assert "KP" not in json.dumps(document)
    assert "NZ" not in json.dumps(document)
    assert document["level"] == "low"
    assert document["reasons"] == ["country_mismatch"]
    assert RiskAssessment.model_validate(document) == assessment


def test_fingerprint_is_the_keyed_hmac_sha256_and_depends_on_the_key() -> None:
    # The widely published HMAC-SHA256 example.
    assert fingerprint(b"key", "The quick brown fox jumps over the lazy dog") == (
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )
    assert fingerprint(b"one key", "203.0.113.7") != fingerprint(b"another key", "203.0.113.7")
    assert "203.0.113.7" not in fingerprint(b"one key", "203.0.113.7")


COUNTS = (
    "customer.short",
    "customer.long",
    "ip.short",
    "ip.long",
    "token.short",
    "token.long",
    "customer_declines",
    "token_declines",
)
counts = st.integers(min_value=0, max_value=60)
windows = st.builds(WindowCounts, short=counts, long=counts)
medians = st.none() | st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100_000), places=2)
any_inputs = st.builds(
    RiskInputs,
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1_000_000), places=2).map(
        lambda amount: Money.of(amount, "USD")
    ),
    customer=windows,
    ip=st.none() | windows,
    token=windows,
    customer_history=st.builds(AmountHistory, count=counts, median=medians),
    campaign_basket=st.builds(AmountHistory, count=counts, median=medians),
    customer_is_new=st.booleans(),
    customer_declines=counts,
    token_declines=counts,
    ip_country=st.none() | st.sampled_from(["US", "GB", "DE"]),
    customer_country=st.none() | st.sampled_from(["US", "GB", "DE"]),
)


def bumped(base: RiskInputs, count: str, by: int) -> RiskInputs:
    field, _, window = count.partition(".")
    if not window:
        return replace(base, **{field: getattr(base, field) + by})
    counted: WindowCounts | None = getattr(base, field)
    if counted is None:
        return base
    return replace(base, **{field: replace(counted, **{window: getattr(counted, window) + by})})


@given(base=any_inputs, count=st.sampled_from(COUNTS), by=st.integers(min_value=1, max_value=30))
def test_more_payments_or_declines_never_lower_the_score(
    base: RiskInputs, count: str, by: int
) -> None:
    assert assess(bumped(base, count, by), POLICY).score >= assess(base, POLICY).score


@given(base=any_inputs, extra=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**6)))
def test_a_larger_amount_never_lowers_the_score(base: RiskInputs, extra: Decimal) -> None:
    larger = replace(
        base, amount=Money.of(base.amount.amount + extra.quantize(Decimal("0.01")), "USD")
    )

    assert assess(larger, POLICY).score >= assess(base, POLICY).score


@given(base=any_inputs)
def test_score_stays_within_0_and_1_and_every_contribution_within_its_bounds(
    base: RiskInputs,
) -> None:
    assessment = assess(base, POLICY)

    assert 0 <= assessment.score <= 1
    assert all(0 <= signal.contribution <= 1 for signal in assessment.signals)
    assert assessment.score >= max(signal.contribution for signal in assessment.signals)
