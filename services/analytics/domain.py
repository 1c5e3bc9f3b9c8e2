"""Revenue and campaign performance rules: what a payment earns and how a campaign is doing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignLaunched,
    CampaignPerformance,
    CampaignPlanned,
    CampaignSegmented,
    ProcessorShare,
    Segment,
)
from shared.events.common import Channel
from shared.events.payments import PaymentRecord
from shared.events.revenue import RevenueRecorded, RevenueReversed
from shared.money import Money, round_half_up

# Zero amounts still need a currency before the first payment or plan names one.
UNPRICED_CURRENCY = "USD"
# Model providers bill in US dollars. Analytics keeps no exchange rates, so the AI cost
# counts as spend only for campaigns in this currency; others report it beside the spend.
AI_COST_CURRENCY = "USD"


class CurrencyMismatchError(ValueError):
    """An amount in another currency than the campaign's; ``field`` names the offending field."""

    def __init__(self, field: str, given: str, expected: str) -> None:
        super().__init__(f"{field}: {given} differs from the campaign's currency {expected}")
        self.field = field


def credited_campaign(payment: PaymentRecord) -> str:
    """The campaign a sale counts for: the attribution's, else the one paid through."""
    return payment.metadata.campaign_attribution or payment.campaign_id


def revenue_from(payment: PaymentRecord, recorded_at: datetime) -> RevenueRecorded:
    """What a completed payment earns: gross, less the processor's fee; no fee known, none taken."""
    currency = payment.currency
    gross = Money.of(round_half_up(payment.amount, currency), currency)
    fees = payment.metadata.processor_fees
    fee = Money.of(round_half_up(fees.processor_fee, currency), currency) if fees else None
    net = Money.of(round_half_up(fees.net_amount, currency), currency) if fees else None
    return RevenueRecorded(
        campaign_id=credited_campaign(payment),
        payment_id=payment.id,
        customer_id=payment.customer_id,
        processor=payment.processor,
        payment_method=payment.payment_method,
        gross=gross,
        fee=fee or Money.zero(currency),
        net=net or gross,
        recorded_at=recorded_at,
        attribution=payment.metadata.attribution,
    )


@dataclass(frozen=True)
class ProcessorTally:
    count: int = 0
    gross: Decimal = Decimal(0)


@dataclass
class CampaignTotals:
    """Everything analytics knows about one campaign, from whichever events arrived so far.

    ``gross``, ``fees`` and ``net`` are net of refunds; ``refunded`` says how much they gave back.
    """

    campaign_id: str
    currency: str | None = None
    gross: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    net: Decimal = Decimal(0)
    payments_completed: int = 0
    payments_failed: int = 0
    refunded: Decimal = Decimal(0)
    payments_refunded: int = 0  # payments with at least one succeeded refund
    processors: dict[str, ProcessorTally] = field(default_factory=dict)
    plan: CampaignPlanned | None = None
    segments: list[Segment] = field(default_factory=list)
    reach: dict[Channel, int] = field(default_factory=dict)
    total_reach: int = 0
    ai_costs: dict[str, Decimal] = field(default_factory=dict)  # per AI step, US dollars
    version: int = 0

    def record_revenue(self, revenue: RevenueRecorded) -> None:
        self._agree_on_currency(revenue.gross.currency, "currency")
        self.gross += revenue.gross.amount
        self.fees += revenue.fee.amount
        self.net += revenue.net.amount
        self.payments_completed += 1
        tally = self.processors.get(revenue.processor, ProcessorTally())
        self.processors[revenue.processor] = ProcessorTally(
            tally.count + 1, tally.gross + revenue.gross.amount
        )

    def record_refund(
        self, reversals: Sequence[RevenueReversed], *, first_for_payment: bool
    ) -> None:
        """Take a payment's refunded revenue back; ``first_for_payment`` counts the payment
        among the refunded ones."""
        for reversal in reversals:
            self._agree_on_currency(reversal.gross.currency, "currency")
            self.gross -= reversal.gross.amount
            self.fees -= reversal.fee.amount
            self.net -= reversal.net.amount
            self.refunded += reversal.gross.amount
            tally = self.processors.get(reversal.processor, ProcessorTally())
            self.processors[reversal.processor] = ProcessorTally(
                tally.count, tally.gross - reversal.gross.amount
            )
        if reversals and first_for_payment:
            self.payments_refunded += 1

    def record_failure(self) -> None:
        self.payments_failed += 1

    def record_plan(self, plan: CampaignPlanned) -> None:
        self._agree_on_currency(plan.budget.currency, "budget.currency")
        self.plan = plan
        self._record_ai_cost("plan", plan.ai_cost)

    def record_segments(self, segmented: CampaignSegmented) -> None:
        self.segments = list(segmented.segments)
        self._record_ai_cost("segment", segmented.ai_cost)

    def record_content(self, content: CampaignContentGenerated) -> None:
        self._record_ai_cost("content", content.ai_cost)

    def _record_ai_cost(self, step: str, cost: Decimal | None) -> None:
        # Set, not added: each step is decided once, and a redelivered event counts once.
        self.ai_costs[step] = cost or Decimal(0)

    @property
    def ai_cost(self) -> Decimal:
        return sum(self.ai_costs.values(), Decimal(0))

    def record_launch(self, launched: CampaignLaunched) -> None:
        self.reach = dict(launched.reach)
        self.total_reach = launched.total_reach

    def money(self, amount: Decimal) -> Money:
        return Money.of(amount, self.reporting_currency)

    @property
    def reporting_currency(self) -> str:
        return self.currency or (self.plan.budget.currency if self.plan else UNPRICED_CURRENCY)

    def _agree_on_currency(self, currency: str, field_name: str) -> None:
        if self.currency is None:
            self.currency = currency
        elif currency != self.currency:
            raise CurrencyMismatchError(field_name, currency, self.currency)


def success_rate(totals: CampaignTotals) -> float:
    attempted = totals.payments_completed + totals.payments_failed
    return round(totals.payments_completed / attempted, 4) if attempted else 0.0


def average_transaction(totals: CampaignTotals) -> Money:
    if not totals.payments_completed:
        return totals.money(Decimal(0))
    currency = totals.reporting_currency
    return Money.of(round_half_up(totals.gross / totals.payments_completed, currency), currency)


def spend(totals: CampaignTotals) -> Money | None:
    """The planned budget plus what the AI steps cost (see ``AI_COST_CURRENCY``)."""
    if totals.plan is None:
        return None
    budget = totals.plan.budget
    if budget.currency != AI_COST_CURRENCY:
        return budget
    return Money.of(round_half_up(budget.amount + totals.ai_cost, budget.currency), budget.currency)


def actual_roi(totals: CampaignTotals) -> float | None:
    """(net revenue - spend) / spend; None before the plan."""
    spent = spend(totals)
    if spent is None:
        return None
    return round(float((totals.net - spent.amount) / spent.amount), 4)


def conversion_rate(totals: CampaignTotals) -> float | None:
    """Completed payments per person reached; None until the launch reports a reach."""
    if not totals.total_reach:
        return None
    return round(totals.payments_completed / totals.total_reach, 6)


def processor_mix(totals: CampaignTotals) -> list[ProcessorShare]:
    """Per processor, the largest gross first."""
    ranked = sorted(totals.processors.items(), key=lambda item: (-item[1].gross, item[0]))
    return [
        ProcessorShare(processor=name, count=tally.count, gross=totals.money(tally.gross))
        for name, tally in ranked
    ]


def performance(totals: CampaignTotals, as_of: datetime) -> CampaignPerformance:
    return CampaignPerformance(
        campaign_id=totals.campaign_id,
        as_of=as_of,
        gross_revenue=totals.money(totals.gross),
        fees=totals.money(totals.fees),
        net_revenue=totals.money(totals.net),
        payments_completed=totals.payments_completed,
        payments_failed=totals.payments_failed,
        success_rate=success_rate(totals),
        average_transaction=average_transaction(totals),
        processor_mix=processor_mix(totals),
        reach=totals.total_reach,
        spend=spend(totals),
        roi=actual_roi(totals),
        ai_cost=totals.ai_cost,
        conversion_rate=conversion_rate(totals),
        refunds=totals.money(totals.refunded),
    )
