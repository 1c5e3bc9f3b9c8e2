"""Payment events applied a batch at a time (``shared/messaging/batches.py``): what the
batch needs is read with one query per collection, the events are applied in the order read,
exactly as one event alone would be, and what they changed is written in bulk.

Within a batch only a payment's first event counts: a payment re-published under a new
event id finds it recorded (or counted, or parked) already, as it would in a later batch.
The rare steps (parking a payment for its click, claiming an ad click) write as they go.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.analytics import domain
from services.analytics.attribution.rule import AttributionPolicy, usable_click
from services.analytics.domain import CampaignTotals
from services.analytics.journeys import Journey, Touch
from services.analytics.payment_lines import PaymentLine, completed_line, failed_line
from services.analytics.payment_store import RecordedRevenue
from services.analytics.recording import (
    Change,
    checked,
    count_revenue,
    credit_journey,
    credited_campaign,
)
from services.analytics.repository import AnalyticsTransaction
from shared.events.envelope import CloudEvent
from shared.events.payments import PaymentCompleted, PaymentEvent, PaymentFailed
from shared.events.topics import REVENUE_RECORDED
from shared.storage.unit_of_work import Emission


async def record_completed(
    tx: AnalyticsTransaction,
    events: Sequence[CloudEvent[PaymentCompleted]],
    policy: AttributionPolicy,
    now: datetime,
) -> None:
    """``handlers.record_revenue`` for a batch of payment.completed."""
    firsts = first_per_payment(events)
    recorded = await tx.payments.recorded_among([e.data.payment_id for e in firsts])
    fresh = [event for event in firsts if event.data.payment_id not in recorded]
    clicks = await tx.clicks.get_many({e.data.click_id for e in fresh if e.data.click_id})
    due: list[tuple[CloudEvent[PaymentCompleted], Touch | None]] = []
    for event in fresh:
        payment = event.data
        checked(domain.check_amounts, payment)
        if payment.click_id and policy.click_grace and payment.click_id not in clicks:
            # Its click is not seen yet (see ``late_clicks``).
            await tx.parked.park(event, payment.click_id, now + policy.click_grace)
            continue
        click_id = payment.click_id
        due.append((event, usable_click(clicks.get(click_id or ""), payment.occurred_at, policy)))
    changes = PaymentChanges()
    await changes.load(tx, [credited_campaign(e.data, click) for e, click in due])
    await changes.load_journeys(tx, [(credited_campaign(e.data, c), e.data) for e, c in due])
    for event, click in due:
        if click is not None and click.key in clicks:
            click = clicks[click.key]  # claimed by an earlier payment of this batch
        payment = event.data
        journey = changes.journeys[_journey_id(credited_campaign(payment, click), payment)]
        credited = await credit_journey(tx, payment, click, journey, policy)
        if click is not None and click.customer_id is None:
            clicks[click.key] = click.claimed_by(payment.customer_id)
        revenue = domain.revenue_from(payment, now, credited)
        changes.revenue.append(RecordedRevenue(revenue, payment.occurred_at, credited.path))
        changes.lines.append((revenue.campaign_id, completed_line(revenue, payment.occurred_at)))
        count_revenue(changes.totals[revenue.campaign_id], revenue, event)
        changes.emissions.append(
            Emission(REVENUE_RECORDED, revenue, revenue.campaign_id, cause=event)
        )
    await changes.write(tx)


async def count_failed(
    tx: AnalyticsTransaction, events: Sequence[CloudEvent[PaymentFailed]]
) -> None:
    """``handlers.count_failure`` for a batch of payment.failed: a payment already counted,
    or completed, is left as it is."""
    firsts = first_per_payment(events)
    known = await tx.payments.known_among([e.data.payment_id for e in firsts])
    fresh = [event.data for event in firsts if event.data.payment_id not in known]
    changes = PaymentChanges()
    await changes.load(tx, [failed.campaign_id for failed in fresh])
    for failed in fresh:
        changes.lines.append((failed.campaign_id, failed_line(failed)))
        changes.change(failed.campaign_id, CampaignTotals.record_failure)
    await changes.write(tx)


class PaymentChanges:
    """What a batch changes, kept in memory while its events are applied and written at the
    end with one command per collection."""

    def __init__(self) -> None:
        self.totals: dict[str, CampaignTotals] = {}
        self.journeys: dict[str, Journey] = {}
        self.revenue: list[RecordedRevenue] = []
        self.lines: list[tuple[str, PaymentLine]] = []
        self.emissions: list[Emission] = []

    async def load(self, tx: AnalyticsTransaction, campaign_ids: Sequence[str]) -> None:
        if campaign_ids:
            self.totals = await tx.campaigns.get_or_start_many(set(campaign_ids))

    async def load_journeys(
        self, tx: AnalyticsTransaction, payers: Sequence[tuple[str, PaymentEvent]]
    ) -> None:
        if payers:
            wanted = {(cid, payment.customer_id) for cid, payment in payers}
            self.journeys = await tx.journeys.of_customers(wanted)

    def change(self, campaign_id: str, change: Change) -> None:
        change(self.totals[campaign_id])

    async def write(self, tx: AnalyticsTransaction) -> None:
        await tx.payments.add_revenues(self.revenue)
        await tx.payments.project_many(self.lines)
        await tx.journeys.save_many(list(self.journeys.values()))
        await tx.campaigns.save_many(list(self.totals.values()))
        await tx.emit_many(self.emissions)


def first_per_payment[E: CloudEvent[PaymentCompleted] | CloudEvent[PaymentFailed]](
    events: Sequence[E],
) -> list[E]:
    """Each payment's first event, in the order read."""
    firsts: dict[str, E] = {}
    for event in events:
        firsts.setdefault(event.data.payment_id, event)
    return list(firsts.values())


def _journey_id(campaign_id: str, payment: PaymentEvent) -> str:
    return Journey.of_customer(campaign_id, payment.customer_id).id
