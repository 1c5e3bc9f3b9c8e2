"""Recording a payment's revenue, credited from the journey: one path for every way a payment
comes to be recorded (its completion, a refund that came first, the click it named
arriving, the grace for that click running out).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.analytics import domain
from services.analytics.attribution.rule import (
    Attributed,
    AttributionPolicy,
    attribute,
    usable_click,
)
from services.analytics.domain import CampaignTotals
from services.analytics.journeys import Journey, Touch, ad_click_person
from services.analytics.payment_lines import completed_line
from services.analytics.repository import AnalyticsTransaction
from shared.events.common import FieldError
from shared.events.envelope import CloudEvent
from shared.events.payments import PaymentCompleted, PaymentEvent, PaymentRefunded
from shared.events.revenue import RevenueRecorded
from shared.events.topics import REVENUE_RECORDED
from shared.messaging.delivery import UnprocessableEventError
from shared.messaging.trace_context import linked_from

type Change = Callable[[CampaignTotals], None]
type Clock = Callable[[], datetime]
type PaymentRecord = CloudEvent[PaymentCompleted] | CloudEvent[PaymentRefunded]


async def record_revenue(
    tx: AnalyticsTransaction, event: PaymentRecord, policy: AttributionPolicy, now: datetime
) -> RevenueRecorded:
    """Credit the payment from the journey, record what it earned and emit revenue.recorded."""
    payment = event.data
    checked(domain.check_amounts, payment)
    credited = await attribute_payment(tx, payment, policy)
    revenue = domain.revenue_from(payment, now, credited)
    await tx.payments.add_revenue(revenue, payment.occurred_at, credited.path)
    await tx.payments.project(revenue.campaign_id, completed_line(revenue, payment.occurred_at))
    await update_totals(tx, revenue.campaign_id, lambda t: count_revenue(t, revenue, event))
    await tx.emit(REVENUE_RECORDED, revenue, key=revenue.campaign_id, cause=event)
    return revenue


async def attribute_payment(
    tx: AnalyticsTransaction, payment: PaymentEvent, policy: AttributionPolicy
) -> Attributed:
    """The rule of ``attribution.rule`` applied, and the payer's journey told of the sale."""
    click = None
    if payment.click_id is not None:
        click = usable_click(await tx.clicks.get(payment.click_id), payment.occurred_at, policy)
    journey = await tx.journeys.of_customer(credited_campaign(payment, click), payment.customer_id)
    credited = await credit_journey(tx, payment, click, journey, policy)
    await tx.journeys.save(journey)
    return credited


def credited_campaign(payment: PaymentEvent, click: Touch | None) -> str:
    """The campaign a sale counts for: the usable click's, else the payment's."""
    return click.campaign_id if click else payment.campaign_id


async def credit_journey(
    tx: AnalyticsTransaction,
    payment: PaymentEvent,
    click: Touch | None,
    journey: Journey,
    policy: AttributionPolicy,
) -> Attributed:
    """Credit the payment from ``journey`` (the payer's in the credited campaign), which is
    told of the sale; an unclaimed ad click it names becomes the payer's. The caller saves
    the journey."""
    if click is not None and click.customer_id is None:
        click = await _claim_ad_click(tx, click, journey)
    credited = attribute(journey.campaign_id, payment.occurred_at, click, journey.touches, policy)
    journey.pay(payment.payment_id, payment.occurred_at, attributed=credited.is_attributed)
    return credited


async def _claim_ad_click(tx: AnalyticsTransaction, click: Touch, journey: Journey) -> Touch:
    """An ad click named by a payment is the payer's: it moves into their journey, where it
    also counts for their later payments."""
    assert journey.customer_id is not None  # noqa: S101 - a payment always names its customer
    claimed = await tx.clicks.claim(click, journey.customer_id)
    unclaimed = await tx.journeys.get(click.campaign_id, ad_click_person(click.key))
    if unclaimed is not None:
        await tx.journeys.delete(unclaimed)
    journey.touch(claimed)
    return claimed


def count_revenue(totals: CampaignTotals, revenue: RevenueRecorded, cause: CloudEvent[Any]) -> None:
    """Count ``revenue`` in its campaign's totals; the payment's trace, which the revenue
    continues, links to the campaign's, so each trace reaches the other."""
    totals.record_revenue(revenue)
    linked_from(cause, "revenue credited", totals.trace, **{"campaign.id": totals.campaign_id})


async def update_totals(tx: AnalyticsTransaction, campaign_id: str, change: Change) -> None:
    totals = await tx.campaigns.get_or_start(campaign_id)
    change(totals)
    await tx.campaigns.save(totals)


def checked[**P](check: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> None:
    """Run ``check``; a payment event analytics can never apply goes to the dead letters."""
    try:
        check(*args, **kwargs)
    except domain.InvalidPaymentEventError as error:
        raise unprocessable(error) from error


def unprocessable(error: domain.InvalidPaymentEventError) -> UnprocessableEventError:
    return UnprocessableEventError(str(error), [FieldError(field=error.field, message=str(error))])
