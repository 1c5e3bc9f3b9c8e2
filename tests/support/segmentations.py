"""A small, known segmentation for the segment-naming tests, and namings of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.segmenter.domain import Segmentation, SegmentationPolicy
from services.segmenter.features import ColumnsBuilder
from services.segmenter.in_memory import segment_customers
from shared.events.campaigns import CampaignPlanned
from tests.support.factories import campaign_id, campaign_planned

NOW = datetime(2026, 3, 1, tzinfo=UTC)
# (customer id, days since purchase, orders, spent cents, opted in); below the clustering
# threshold, so the rules give one segment per customer.
CUSTOMERS = (
    ("cust-loyal-000101", 10, 4, 90_000, True),
    ("cust-occasional-000102", 10, 4, 10_000, True),
    ("cust-lapsed-000103", 200, 4, 64_000, False),
    ("cust-prospect-000104", None, 0, 0, True),
)
SEGMENT_IDS = ("high_value", "occasional", "at_risk", "new_prospects")
CUSTOMER_IDS = frozenset(c[0] for c in CUSTOMERS)


def small_segmentation() -> Segmentation:
    builder = ColumnsBuilder(len(CUSTOMERS), NOW)
    builder.add(
        customer_ids=[c[0] for c in CUSTOMERS],
        currencies=["USD"] * len(CUSTOMERS),
        email_opt_in=[c[4] for c in CUSTOMERS],
        orders_count=[c[2] for c in CUSTOMERS],
        spent_cents=[c[3] for c in CUSTOMERS],
        purchased_at=[None if c[1] is None else NOW - timedelta(days=c[1]) for c in CUSTOMERS],
        engaged_at=[None] * len(CUSTOMERS),
        created_at=[None] * len(CUSTOMERS),
    )
    return segment_customers(builder.columns(), SegmentationPolicy()).segmentation


def planned_campaign() -> CampaignPlanned:
    return CampaignPlanned.model_validate(campaign_planned(campaign_id()))


def wording(segment_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid model answer for one segment."""
    words: dict[str, Any] = {
        "segment_id": segment_id,
        "name": f"Model-named {segment_id.replace('_', ' ')}",
        "description": f"Customers of the {segment_id.replace('_', ' ')} kind.",
        "strategy": "Lead with the headphones' comfort on long trips.",
    }
    return words | overrides


def naming(*segment_ids: str, **overrides: Any) -> dict[str, Any]:
    """A valid SegmentNaming answer for ``segment_ids`` (all four by default)."""
    return {"segments": [wording(i, **overrides) for i in segment_ids or SEGMENT_IDS]}
