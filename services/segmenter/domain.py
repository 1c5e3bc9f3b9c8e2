"""Customer segmentation: clusters of customers, each named and given a predicted conversion.

From ``min_customers_for_clustering`` customers up, segments are k-means clusters of the
standardised features (``clustering``), named from their traits (``traits``). Below it,
clustering is degenerate (a handful of points always "separates"), so explainable rules
assign each customer to the first segment whose rule matches:

- ``high_value``: bought within ``at_risk_after_days`` and spent at least the median of the
  past buyers in the same currency; ``occasional``: bought recently, below that median.
- ``at_risk``: bought before, but nothing within the last ``at_risk_after_days``.
- ``engaged_prospects``: never bought, engaged within ``engaged_within_days``;
  ``new_prospects``: never bought and not recently engaged.

Either way, each segment's conversion is the Beta-Binomial posterior of ``conversion``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from services.segmenter.clustering import ClusteringPolicy, cluster
from services.segmenter.conversion import ConversionModel, Outcome, posterior
from services.segmenter.features import CustomerColumns, feature_matrix
from services.segmenter.traits import (
    SEGMENT_NAMES,
    SEGMENT_ORDER,
    SegmentTraits,
    Thresholds,
    high_spend_cents,
    name_segments,
)
from shared.events.campaigns import (
    HOURS_IN_A_WEEK,
    AudienceMember,
    CampaignAudience,
    CampaignSegmented,
    ConversionInterval,
    Segment,
)

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
class SegmentMembers:
    segment: Segment
    customer_ids: list[str]


@dataclass(frozen=True)
class Segmentation:
    total_customers: int
    segments: list[SegmentMembers]
    engagement_by_hour: list[int] = field(default_factory=list)

    def event(
        self, campaign_id: str, engine: str | None = None, ai_cost: Decimal | None = None
    ) -> CampaignSegmented:
        return CampaignSegmented(
            campaign_id=campaign_id,
            total_customers=self.total_customers,
            segments=[members.segment for members in self.segments],
            engine=engine,
            ai_cost=ai_cost,
            engagement_by_hour=self.engagement_by_hour or None,
        )

    def audience(
        self, campaign_id: str, chunk_size: int = AUDIENCE_CHUNK
    ) -> list[CampaignAudience]:
        """Who is in which segment, in chunks of at most ``chunk_size`` members: the
        launcher's recipients, sent as events (never read from this service's database).
        An empty base still gets one (empty) chunk, so the launch knows it has them all."""
        members = [
            AudienceMember(customer_id=customer_id, segment_id=group.segment.segment_id)
            for group in self.segments
            for customer_id in group.customer_ids
        ]
        starts = range(0, len(members), chunk_size) or range(1)
        return [
            CampaignAudience(
                campaign_id=campaign_id,
                chunk=index,
                chunks=len(starts),
                members=members[start : start + chunk_size],
            )
            for index, start in enumerate(starts)
        ]


def classify_by_rules(customers: CustomerColumns, policy: SegmentationPolicy) -> list[str]:
    """The rule-based segment id of every customer (see the module docstring)."""
    ids = np.full(len(customers), "new_prospects", dtype=object)
    engaged = customers.days_since_engaged < policy.engaged_within_days
    ids[engaged] = "engaged_prospects"
    buyers = customers.has_purchased
    at_risk = buyers & (customers.days_since_purchase >= policy.at_risk_after_days)
    ids[at_risk] = "at_risk"
    recent = buyers & ~at_risk
    for currency in np.unique(customers.currencies[buyers]):
        in_currency = customers.currencies == currency
        median = np.median(customers.spent_cents[buyers & in_currency])
        high = customers.spent_cents >= median
        ids[recent & in_currency & high] = "high_value"
        ids[recent & in_currency & ~high] = "occasional"
    return [str(segment_id) for segment_id in ids]


def groups_of(
    customers: CustomerColumns, policy: SegmentationPolicy
) -> list[tuple[str, str, CustomerColumns]]:
    """(segment id, name, members) for every non-empty segment."""
    if len(customers) < policy.min_customers_for_clustering:
        ids = np.array(classify_by_rules(customers, policy), dtype=object)
        return [
            (segment_id, SEGMENT_NAMES[segment_id], customers.take(ids == segment_id))
            for segment_id in SEGMENT_ORDER
            if (ids == segment_id).any()
        ]
    found = cluster(feature_matrix(customers), customers.customer_ids, policy.clustering)
    members = [customers.take(found.labels == label) for label in range(found.k)]
    members = [group for group in members if len(group)]
    thresholds = Thresholds(
        policy.at_risk_after_days, policy.engaged_within_days, high_spend_cents(customers)
    )
    names = name_segments([SegmentTraits.of(group) for group in members], thresholds)
    named = [(i, n, group) for (i, n), group in zip(names, members, strict=True)]
    return sorted(named, key=lambda g: _display_order(g[0]))


def _display_order(segment_id: str) -> tuple[int, str]:
    """Known ids in ``SEGMENT_ORDER``, a suffixed duplicate (``at_risk_2``) after its base."""
    base = segment_id if segment_id in SEGMENT_ORDER else segment_id.rsplit("_", 1)[0]
    return SEGMENT_ORDER.index(base), segment_id


def segment_customers(
    customers: CustomerColumns,
    policy: SegmentationPolicy,
    history: Mapping[str, Outcome] | None = None,
) -> Segmentation:
    """Partition ``customers``; ``history`` is past reach and conversions per segment id."""
    history = history or {}
    segments = []
    for segment_id, name, members in groups_of(customers, policy):
        prior = policy.conversion.conversion_rate(members)
        estimate = posterior(prior, policy.prior_strength, history.get(segment_id, Outcome()))
        segment = Segment(
            segment_id=segment_id,
            name=name,
            size=len(members),
            predicted_conversion_rate=estimate.mean,
            predicted_conversion_interval=ConversionInterval(low=estimate.low, high=estimate.high),
            email_reachable=int(members.email_opt_in.sum()),
            description=SegmentTraits.of(members).description(),
        )
        segments.append(SegmentMembers(segment, members.customer_ids.tolist()))
    return Segmentation(
        total_customers=len(customers),
        segments=segments,
        engagement_by_hour=engagement_by_hour(customers),
    )


def engagement_by_hour(customers: CustomerColumns) -> list[int]:
    """How many customers last engaged in each hour of the week (UTC); empty without any."""
    hours = customers.engaged_hour_of_week
    engaged = hours[hours >= 0]
    if not len(engaged):
        return []
    return [int(count) for count in np.bincount(engaged, minlength=HOURS_IN_A_WEEK)]
