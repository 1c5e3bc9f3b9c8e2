"""Segmentation: planted groups recovered, stable ids, rules for tiny bases, the posterior."""

from datetime import UTC, datetime

import numpy as np
import pytest
from scipy.stats import beta
from sklearn.metrics import adjusted_rand_score

from services.segmenter.conversion import ConversionModel, Outcome, posterior
from services.segmenter.domain import SegmentationPolicy
from services.segmenter.features import ColumnsBuilder, CustomerColumns
from services.segmenter.in_memory import segment_customers
from tests.support.planted_customers import planted_base

NOW = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = SegmentationPolicy()


def found_labels(columns: CustomerColumns, policy: SegmentationPolicy = POLICY) -> list[str]:
    return [str(segment_id) for segment_id in segment_customers(columns, policy).segment_ids]


def small_base(rows: list[tuple[str, float | None, int, int, bool]]) -> CustomerColumns:
    """(id, days since purchase, orders, spent cents, opted in) per customer."""
    builder = ColumnsBuilder(len(rows), NOW)
    builder.add(
        customer_ids=[r[0] for r in rows],
        currencies=["USD"] * len(rows),
        email_opt_in=[r[4] for r in rows],
        orders_count=[r[2] for r in rows],
        spent_cents=[r[3] for r in rows],
        purchased_at=[
            None if r[1] is None else datetime.fromtimestamp(NOW.timestamp() - r[1] * 86_400, UTC)
            for r in rows
        ],
        engaged_at=[None] * len(rows),
        created_at=[None] * len(rows),
    )
    return builder.columns()


def test_planted_groups_are_recovered() -> None:
    base = planted_base(600, seed=3)
    assert adjusted_rand_score(base.groups, found_labels(base.columns)) >= 0.9


def test_number_of_segments_is_between_two_and_six() -> None:
    base = planted_base(400, seed=5)
    segments = segment_customers(base.columns, POLICY).segmentation.segments
    assert 2 <= len(segments) <= 6
    assert sum(s.size for s in segments) == 400


def test_segment_ids_are_the_same_across_runs_and_row_orders() -> None:
    base = planted_base(500, seed=4)
    shuffled = base.columns.take(np.random.default_rng(9).permutation(500))
    first = dict(zip(base.columns.customer_ids, found_labels(base.columns), strict=True))
    again = dict(zip(base.columns.customer_ids, found_labels(base.columns), strict=True))
    reordered = dict(zip(shuffled.customer_ids, found_labels(shuffled), strict=True))
    assert first == again == reordered
    assert {"high_value", "new_prospects"} <= set(first.values())


def test_segments_carry_a_description_and_an_interval_around_the_rate() -> None:
    for segment in segment_customers(planted_base(300).columns, POLICY).segmentation.segments:
        assert segment.description
        assert segment.predicted_conversion_interval is not None
        interval = segment.predicted_conversion_interval
        assert interval.low <= segment.predicted_conversion_rate <= interval.high


def test_tiny_base_falls_back_to_rules() -> None:
    base = small_base(
        [
            ("loyal-1", 10, 4, 90_000, True),
            ("loyal-2", 10, 4, 10_000, True),
            ("lapsed", 200, 4, 64_000, False),
            ("prospect", None, 0, 0, True),
        ]
    )
    segmented = segment_customers(base, POLICY)
    segments = {s.segment_id: s for s in segmented.segmentation.segments}
    assert {k: segmented.members(k) for k in segments} == {
        "high_value": ["loyal-1"],
        "occasional": ["loyal-2"],
        "at_risk": ["lapsed"],
        "new_prospects": ["prospect"],
    }
    assert segments["at_risk"].email_reachable == 0
    rates = {k: v.predicted_conversion_rate for k, v in segments.items()}
    assert rates["high_value"] > rates["at_risk"] > rates["new_prospects"]


def test_empty_customer_base_yields_no_segments() -> None:
    segmentation = segment_customers(CustomerColumns.empty(), POLICY).segmentation
    assert (segmentation.total_customers, segmentation.segments) == (0, [])


def test_prior_alone_is_the_logistic_of_the_features() -> None:
    cold = small_base([("cold", None, 0, 0, True)])
    assert ConversionModel().conversion_rate(cold) == pytest.approx(0.01, abs=0.001)
    estimate = posterior(0.05, 20, Outcome())
    assert estimate.mean == pytest.approx(0.05)
    assert estimate.low == pytest.approx(beta.ppf(0.1, 1, 19), abs=1e-4)
    assert estimate.high == pytest.approx(beta.ppf(0.9, 1, 19), abs=1e-4)


def test_posterior_mean_adds_history_to_the_prior_pseudo_counts() -> None:
    # alpha = 0.05 x 20 + 30 = 31, beta = 0.95 x 20 + 970 = 989.
    estimate = posterior(0.05, 20, Outcome(reached=1000, conversions=30))
    assert estimate.mean == pytest.approx(31 / 1020, abs=1e-4)
    assert estimate.low == pytest.approx(beta.ppf(0.1, 31, 989), abs=1e-4)
    assert estimate.low < estimate.mean < estimate.high


def test_history_outweighs_the_prior_as_reach_grows() -> None:
    small = posterior(0.01, 20, Outcome(reached=100, conversions=10))
    large = posterior(0.01, 20, Outcome(reached=100_000, conversions=10_000))
    assert small.mean < large.mean == pytest.approx(0.1, abs=1e-3)
    assert large.high - large.low < small.high - small.low
