"""Customer segmentation rules: RFM plus engagement, and a conversion model per segment.

Deliberately simple and explainable (a later issue replaces the rules with clustering):
each customer falls into the first segment whose rule matches, in ``SEGMENT_ORDER``.

- ``high_value``: bought within the recency window and spent at least the median of the
  past buyers in the same currency (the top half of recent buyers by spend).
- ``occasional``: bought within the recency window, below that median.
- ``at_risk``: bought before, but nothing within the last ``at_risk_after_days``.
- ``engaged_prospects``: never bought, opened/clicked/visited within ``engaged_within_days``.
- ``new_prospects``: never bought and not recently engaged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from statistics import median

from shared.events.campaigns import CampaignSegmented, Segment

SEGMENT_NAMES: Mapping[str, str] = {
    "high_value": "High-value customers",
    "occasional": "Occasional buyers",
    "at_risk": "At-risk customers",
    "engaged_prospects": "Engaged prospects",
    "new_prospects": "New prospects",
}
SEGMENT_ORDER = tuple(SEGMENT_NAMES)


@dataclass(frozen=True)
class CustomerProfile:
    """The features the rules read, as of the customer's latest update."""

    customer_id: str
    email_opt_in: bool
    orders_count: int
    total_spent: Decimal
    currency: str
    last_purchase_at: datetime | None = None
    last_engaged_at: datetime | None = None

    @property
    def has_purchased(self) -> bool:
        return self.last_purchase_at is not None and self.orders_count > 0


@dataclass(frozen=True)
class ConversionModel:
    """P(purchase) = 1 / (1 + e^-(intercept + Σ coefficient x feature)).

    Features are the segment's averages of three scores in [0, 1]: purchase recency
    (1 bought today, 0 at ``recency_horizon_days`` or never), frequency (orders, capped at
    ``frequency_cap``) and engagement recency (1 today, 0 at ``engagement_horizon_days`` or
    never). The intercept puts a cold segment near 1%; a segment perfect on all three
    features tops out near 47%. Hand-set, not fitted: replace with fitted values when
    campaign outcomes exist.
    """

    intercept: Decimal = Decimal("-4.6")
    recency: Decimal = Decimal("1.8")
    frequency: Decimal = Decimal("1.2")
    engagement: Decimal = Decimal("1.5")
    recency_horizon_days: int = 365
    frequency_cap: int = 10
    engagement_horizon_days: int = 90

    def scores(self, customer: CustomerProfile, now: datetime) -> tuple[Decimal, ...]:
        return (
            _freshness(customer.last_purchase_at, now, self.recency_horizon_days),
            Decimal(min(customer.orders_count, self.frequency_cap)) / self.frequency_cap,
            _freshness(customer.last_engaged_at, now, self.engagement_horizon_days),
        )

    def conversion_rate(self, members: Sequence[CustomerProfile], now: datetime) -> float:
        if not members:
            return 0.0
        scores = [self.scores(customer, now) for customer in members]
        recency, frequency, engagement = (
            sum(column, Decimal(0)) / len(members) for column in zip(*scores, strict=True)
        )
        logit = (
            self.intercept
            + self.recency * recency
            + self.frequency * frequency
            + self.engagement * engagement
        )
        return round(float(1 / (1 + (-logit).exp())), 4)


def _freshness(moment: datetime | None, now: datetime, horizon_days: int) -> Decimal:
    if moment is None:
        return Decimal(0)
    days = Decimal(max((now - moment).total_seconds(), 0)) / 86_400
    return max(Decimal(0), 1 - days / horizon_days)


@dataclass(frozen=True)
class SegmentationPolicy:
    at_risk_after_days: int = 90
    engaged_within_days: int = 30
    conversion: ConversionModel = field(default_factory=ConversionModel)


@dataclass(frozen=True)
class SegmentMembers:
    segment: Segment
    customer_ids: list[str]


@dataclass(frozen=True)
class Segmentation:
    total_customers: int
    segments: list[SegmentMembers]

    def event(self, campaign_id: str) -> CampaignSegmented:
        return CampaignSegmented(
            campaign_id=campaign_id,
            total_customers=self.total_customers,
            segments=[members.segment for members in self.segments],
        )


def median_spend_by_currency(customers: Iterable[CustomerProfile]) -> dict[str, Decimal]:
    """The median lifetime spend of past buyers, per currency: spends are never mixed."""
    spends: dict[str, list[Decimal]] = defaultdict(list)
    for customer in customers:
        if customer.has_purchased:
            spends[customer.currency].append(customer.total_spent)
    return {currency: median(amounts) for currency, amounts in spends.items()}


def classify(
    customer: CustomerProfile,
    now: datetime,
    median_spend: Mapping[str, Decimal],
    policy: SegmentationPolicy,
) -> str:
    """The id of the one segment ``customer`` belongs to."""
    if not customer.has_purchased or customer.last_purchase_at is None:
        engaged = (
            customer.last_engaged_at is not None
            and (now - customer.last_engaged_at).days < policy.engaged_within_days
        )
        return "engaged_prospects" if engaged else "new_prospects"
    if (now - customer.last_purchase_at).days >= policy.at_risk_after_days:
        return "at_risk"
    if customer.total_spent >= median_spend[customer.currency]:
        return "high_value"
    return "occasional"


def segment_customers(
    customers: Sequence[CustomerProfile], now: datetime, policy: SegmentationPolicy
) -> Segmentation:
    """Partition ``customers`` into segments; only non-empty segments are kept."""
    median_spend = median_spend_by_currency(customers)
    members: dict[str, list[CustomerProfile]] = defaultdict(list)
    for customer in customers:
        members[classify(customer, now, median_spend, policy)].append(customer)
    segments = [
        SegmentMembers(
            segment=Segment(
                segment_id=segment_id,
                name=SEGMENT_NAMES[segment_id],
                size=len(members[segment_id]),
                predicted_conversion_rate=policy.conversion.conversion_rate(
                    members[segment_id], now
                ),
                email_reachable=sum(1 for c in members[segment_id] if c.email_opt_in),
            ),
            customer_ids=[c.customer_id for c in members[segment_id]],
        )
        for segment_id in SEGMENT_ORDER
        if members[segment_id]
    ]
    return Segmentation(total_customers=len(customers), segments=segments)


def supersedes(incoming: datetime, stored: datetime | None) -> bool:
    """Whether an update stamped ``incoming`` may replace the stored one.

    Updates can arrive out of order; an older one must not regress the customer.
    """
    return stored is None or incoming >= stored
