"""Customer segmentation: clusters of customers, each named and given a predicted conversion.

From ``min_customers_for_clustering`` customers up, segments are k-means clusters of the
standardised features (``clustering``), named from their traits (``traits``), computed a
chunk of the base at a time (``streaming``). Below it, clustering is degenerate (a handful
of points always "separates"), so explainable rules assign each customer to the first
segment whose rule matches:

- ``high_value``: bought within ``at_risk_after_days`` and spent at least the median of the
  past buyers in the same currency; ``occasional``: bought recently, below that median.
- ``at_risk``: bought before, but nothing within the last ``at_risk_after_days``.
- ``engaged_prospects``: never bought, engaged within ``engaged_within_days``;
  ``new_prospects``: never bought and not recently engaged.

Either way, each segment's conversion is the Beta-Binomial posterior of ``conversion``.
The segmentation itself is what every segment is (sizes, words, conversion); who is in
which segment is given chunk by chunk and never held whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from services.segmenter.clustering import ClusteringPolicy
from services.segmenter.conversion import ConversionModel
from services.segmenter.features import CustomerColumns
from services.segmenter.segment_stats import Labels
from services.segmenter.traits import SEGMENT_ORDER
from shared.events.campaigns import AudienceMember, CampaignAudience, CampaignSegmented, Segment

# Members per campaign.audience event: about 60 KB of JSON, well under a broker's limit.
AUDIENCE_CHUNK = 1000


@dataclass(frozen=True)
class SegmentationPolicy:
    at_risk_after_days: int = 90
    engaged_within_days: int = 30
    min_customers_for_clustering: int = 50
    prior_strength: float = 20.0
    conversion: ConversionModel = field(default_factory=ConversionModel)
    clustering: ClusteringPolicy = field(default_factory=ClusteringPolicy)


@dataclass(frozen=True)
class Segmentation:
    """Every segment of the base: its size, words, reach and predicted conversion."""

    total_customers: int
    segments: list[Segment]
    engagement_by_hour: list[int] = field(default_factory=list)

    def event(
        self, campaign_id: str, engine: str | None = None, ai_cost: Decimal | None = None
    ) -> CampaignSegmented:
        return CampaignSegmented(
            campaign_id=campaign_id,
            total_customers=self.total_customers,
            segments=self.segments,
            engine=engine,
            ai_cost=ai_cost,
            engagement_by_hour=self.engagement_by_hour or None,
        )


def audience_chunk(
    campaign_id: str, chunk: int, chunks: int, members: list[tuple[str, str]]
) -> CampaignAudience:
    """One campaign.audience event: ``members`` as (customer id, segment id)."""
    return CampaignAudience(
        campaign_id=campaign_id,
        chunk=chunk,
        chunks=chunks,
        members=[AudienceMember(customer_id=c, segment_id=s) for c, s in members],
    )


def spend_medians(customers: CustomerColumns) -> dict[str, float]:
    """The past buyers' median spend in cents, per currency: where the rules split."""
    buyers = customers.has_purchased
    return {
        str(currency): float(
            np.median(customers.spent_cents[buyers & (customers.currencies == currency)])
        )
        for currency in np.unique(customers.currencies[buyers])
    }


def classify_by_rules(
    customers: CustomerColumns, policy: SegmentationPolicy, medians: dict[str, float]
) -> Labels:
    """Each customer's rule-based segment (see the module docstring), as its index in
    ``SEGMENT_ORDER``; ``medians`` from ``spend_medians`` of the whole base."""
    labels = np.full(len(customers), SEGMENT_ORDER.index("new_prospects"), dtype=np.int32)
    labels[customers.days_since_engaged < policy.engaged_within_days] = SEGMENT_ORDER.index(
        "engaged_prospects"
    )
    buyers = customers.has_purchased
    at_risk = buyers & (customers.days_since_purchase >= policy.at_risk_after_days)
    labels[at_risk] = SEGMENT_ORDER.index("at_risk")
    recent = buyers & ~at_risk
    median = np.array([medians.get(str(c), 0.0) for c in customers.currencies])
    high = customers.spent_cents >= median
    labels[recent & high] = SEGMENT_ORDER.index("high_value")
    labels[recent & ~high] = SEGMENT_ORDER.index("occasional")
    return labels


def display_order(segment_id: str) -> tuple[int, str]:
    """Known ids in ``SEGMENT_ORDER``, a suffixed duplicate (``at_risk_2``) after its base."""
    base = segment_id if segment_id in SEGMENT_ORDER else segment_id.rsplit("_", 1)[0]
    return SEGMENT_ORDER.index(base), segment_id
