"""Every Kafka topic name, in one place. A topic's events have ``type`` equal to its name."""

from typing import Final

CUSTOMER_UPSERTED: Final = "customer.upserted"
CUSTOMER_UNSUBSCRIBED: Final = "customer.unsubscribed"
CAMPAIGN_REQUESTED: Final = "campaign.requested"
CAMPAIGN_REJECTED: Final = "campaign.rejected"
CAMPAIGN_PLANNED: Final = "campaign.planned"
CAMPAIGN_SEGMENTED: Final = "campaign.segmented"
CAMPAIGN_AUDIENCE: Final = "campaign.audience"
CAMPAIGN_CONTENT_GENERATED: Final = "campaign.content_generated"
CAMPAIGN_LAUNCHED: Final = "campaign.launched"
ENGAGEMENT_SENT: Final = "engagement.sent"
ENGAGEMENT_BOUNCED: Final = "engagement.bounced"
ENGAGEMENT_CLICKED: Final = "engagement.clicked"
ENGAGEMENT_HELD_OUT: Final = "engagement.held_out"
ADS_REPORTED: Final = "ads.reported"
PAYMENT_INITIATED: Final = "payment.initiated"
PAYMENT_COMPLETED: Final = "payment.completed"
PAYMENT_FAILED: Final = "payment.failed"
PAYMENT_REVIEW_REQUIRED: Final = "payment.review_required"
PAYMENT_REFUNDED: Final = "payment.refunded"
REVENUE_RECORDED: Final = "revenue.recorded"
REVENUE_REVERSED: Final = "revenue.reversed"
CAMPAIGN_PERFORMANCE: Final = "campaign.performance"
CAMPAIGN_EVALUATED: Final = "campaign.evaluated"
CAMPAIGN_REALLOCATED: Final = "campaign.reallocated"
ADS_ADJUSTED: Final = "ads.adjusted"

DOMAIN_TOPICS: Final = (
    CUSTOMER_UPSERTED,
    CUSTOMER_UNSUBSCRIBED,
    CAMPAIGN_REQUESTED,
    CAMPAIGN_REJECTED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_SEGMENTED,
    CAMPAIGN_AUDIENCE,
    CAMPAIGN_CONTENT_GENERATED,
    CAMPAIGN_LAUNCHED,
    ENGAGEMENT_SENT,
    ENGAGEMENT_BOUNCED,
    ENGAGEMENT_CLICKED,
    ENGAGEMENT_HELD_OUT,
    ADS_REPORTED,
    PAYMENT_INITIATED,
    PAYMENT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_REVIEW_REQUIRED,
    PAYMENT_REFUNDED,
    REVENUE_RECORDED,
    REVENUE_REVERSED,
    CAMPAIGN_PERFORMANCE,
    CAMPAIGN_EVALUATED,
    CAMPAIGN_REALLOCATED,
    ADS_ADJUSTED,
)


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


ALL_TOPICS: Final = DOMAIN_TOPICS + tuple(dead_letter_topic(t) for t in DOMAIN_TOPICS)
