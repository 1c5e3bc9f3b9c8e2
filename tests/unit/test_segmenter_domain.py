"""Segment rules, the conversion model and the out-of-order guard."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.segmenter.domain import (
    ConversionModel,
    CustomerProfile,
    SegmentationPolicy,
    classify,
    segment_customers,
    supersedes,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = SegmentationPolicy()


def profile(days_since_purchase: int | None = 10, **overrides: Any) -> CustomerProfile:
    values: dict[str, Any] = {
        "customer_id": "customer-1",
        "email_opt_in": True,
        "orders_count": 3 if days_since_purchase is not None else 0,
        "total_spent": Decimal("300.00") if days_since_purchase is not None else Decimal(0),
        "currency": "USD",
        "last_purchase_at": (
            NOW - timedelta(days=days_since_purchase) if days_since_purchase is not None else None
        ),
        "last_engaged_at": None,
    }
    return CustomerProfile(**(values | overrides))


def test_recent_buyer_at_or_above_median_spend_is_high_value() -> None:
    medians = {"USD": Decimal("300.00")}
    assert classify(profile(10), NOW, medians, POLICY) == "high_value"


def test_recent_buyer_below_median_spend_is_occasional() -> None:
    medians = {"USD": Decimal("300.01")}
    assert classify(profile(10), NOW, medians, POLICY) == "occasional"


def test_buyer_silent_for_ninety_days_is_at_risk_whatever_the_spend() -> None:
    medians = {"USD": Decimal("1.00")}
    assert classify(profile(90), NOW, medians, POLICY) == "at_risk"
    assert classify(profile(89), NOW, medians, POLICY) == "high_value"


def test_never_purchased_customer_is_a_prospect_engaged_or_new() -> None:
    engaged = profile(None, last_engaged_at=NOW - timedelta(days=3))
    cold = profile(None, last_engaged_at=NOW - timedelta(days=45))
    assert classify(engaged, NOW, {}, POLICY) == "engaged_prospects"
    assert classify(cold, NOW, {}, POLICY) == "new_prospects"
    assert classify(profile(None), NOW, {}, POLICY) == "new_prospects"


def test_median_spend_is_taken_per_currency() -> None:
    customers = [
        profile(5, customer_id="usd-low", total_spent=Decimal("100")),
        profile(5, customer_id="usd-high", total_spent=Decimal("900")),
        profile(5, customer_id="jpy", total_spent=Decimal("5000"), currency="JPY"),
    ]
    segmentation = segment_customers(customers, NOW, POLICY)
    members = {s.segment.segment_id: s.customer_ids for s in segmentation.segments}
    assert members == {"high_value": ["usd-high", "jpy"], "occasional": ["usd-low"]}


def test_segmentation_keeps_only_non_empty_segments_and_counts_email_opt_ins() -> None:
    customers = [
        profile(5, customer_id="a", email_opt_in=True),
        profile(200, customer_id="b", email_opt_in=False),
        profile(200, customer_id="c", email_opt_in=True),
        profile(None, customer_id="d"),
    ]
    segmentation = segment_customers(customers, NOW, POLICY)
    by_id = {s.segment.segment_id: s.segment for s in segmentation.segments}
    assert segmentation.total_customers == 4
    assert set(by_id) == {"high_value", "at_risk", "new_prospects"}
    assert (by_id["at_risk"].size, by_id["at_risk"].email_reachable) == (2, 1)
    assert by_id["at_risk"].name == "At-risk customers"
    assert sum(s.size for s in by_id.values()) == 4


def test_empty_customer_base_yields_no_segments() -> None:
    segmentation = segment_customers([], NOW, POLICY)
    assert segmentation.total_customers == 0
    assert segmentation.segments == []


def test_conversion_rate_rises_with_recency_frequency_and_engagement() -> None:
    model = ConversionModel()
    cold = [profile(None)]
    lapsed = [profile(300, orders_count=1)]
    loyal = [profile(2, orders_count=12, last_engaged_at=NOW - timedelta(days=1))]
    rates = [model.conversion_rate(members, NOW) for members in (cold, lapsed, loyal)]
    assert rates == sorted(rates)
    assert rates[0] == pytest.approx(0.01, abs=0.001)  # the intercept alone: ~1%
    assert all(0 <= rate <= 1 for rate in rates)


def test_conversion_rate_is_the_logistic_of_the_segment_averages() -> None:
    model = ConversionModel()
    members = [
        profile(None, customer_id="a"),
        profile(0, customer_id="b", orders_count=10, last_engaged_at=NOW),
    ]
    # Averages: recency 0.5, frequency 0.5, engagement 0.5.
    logit = -4.6 + (1.8 + 1.2 + 1.5) * 0.5
    expected = 1 / (1 + 2.718281828459045 ** (-logit))
    assert model.conversion_rate(members, NOW) == pytest.approx(expected, abs=1e-4)


def test_an_older_update_never_replaces_a_newer_one() -> None:
    stored = NOW
    assert supersedes(NOW + timedelta(seconds=1), stored)
    assert supersedes(NOW, stored)
    assert not supersedes(NOW - timedelta(seconds=1), stored)
    assert supersedes(NOW, None)
