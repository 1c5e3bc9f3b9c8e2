"""Revenue and running totals: what a payment earns, and a campaign's sums per currency.

A campaign's payments are summed in the currency each was paid in and never converted
(analytics keeps no exchange rates). The campaign reports in its budget's currency, or
before the plan in the first currency a payment was in; the others are reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from services.analytics.attribution.rule import Attributed
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignLaunched,
    CampaignPlanned,
    CampaignSegmented,
    Segment,
)
from shared.events.common import Channel
from shared.events.payments import Attribution, PaymentCompleted, PaymentRefunded
from shared.events.revenue import RevenueRecorded, RevenueReversed
from shared.money import Money

# Zero amounts still need a currency before the first payment or plan names one.
UNPRICED_CURRENCY = "USD"


class InvalidPaymentEventError(ValueError):
    """A payment event analytics can never apply; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check_amounts(payment: PaymentCompleted | PaymentRefunded) -> None:
    """Refuse a payment whose fee or net is in another currency than its amount."""
    currency = payment.amount.currency
    for name, money in (("fee", payment.fee), ("net", payment.net)):
        if money.currency != currency:
            raise InvalidPaymentEventError(
                name, f"{money.currency} differs from the amount's currency {currency}"
            )


def revenue_from(
    payment: PaymentCompleted | PaymentRefunded, recorded_at: datetime, credited: Attributed
) -> RevenueRecorded:
    """What a completed payment earns: its amount, less the processor's fee, credited as
    the journey says (``credited``, see ``attribution.rule``), never as the payment claims.

    A refund carries the payment's amount, fee and net as it completed, so it stands in for
    a completion that has not arrived yet.
    """
    check_amounts(payment)
    return RevenueRecorded(
        campaign_id=credited.campaign_id,
        payment_id=payment.payment_id,
        customer_id=payment.customer_id,
        processor=payment.processor,
        payment_method=payment.payment_method,
        gross=payment.amount,
        fee=payment.fee,
        net=payment.net,
        recorded_at=recorded_at,
        attribution=credited.attribution,
        click_id=credited.click_id,
    )


@dataclass(frozen=True)
class ProcessorTally:
    count: int = 0
    gross: Decimal = Decimal(0)


@dataclass(frozen=True)
class ChannelTally:
    """Revenue attributed to one channel (last touch), net of refunds."""

    gross: Decimal = Decimal(0)
    net: Decimal = Decimal(0)

    def plus(self, gross: Decimal, net: Decimal) -> ChannelTally:
        return ChannelTally(self.gross + gross, self.net + net)


@dataclass
class CurrencyTotals:
    """A campaign's payments in one currency; ``gross``, ``fees`` and ``net`` are net of
    refunds, and ``refunded`` says how much they gave back."""

    gross: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    net: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    payments_completed: int = 0
    processors: dict[str, ProcessorTally] = field(default_factory=dict)
    channels: dict[Channel, ChannelTally] = field(default_factory=dict)

    def add(self, revenue: RevenueRecorded) -> None:
        self.gross += revenue.gross.amount
        self.fees += revenue.fee.amount
        self.net += revenue.net.amount
        self.payments_completed += 1
        tally = self.processors.get(revenue.processor, ProcessorTally())
        self.processors[revenue.processor] = ProcessorTally(
            tally.count + 1, tally.gross + revenue.gross.amount
        )
        self._attribute(revenue.attribution, revenue.gross.amount, revenue.net.amount)

    def take_back(self, reversal: RevenueReversed) -> None:
        self.gross -= reversal.gross.amount
        self.fees -= reversal.fee.amount
        self.net -= reversal.net.amount
        self.refunded += reversal.gross.amount
        tally = self.processors.get(reversal.processor, ProcessorTally())
        self.processors[reversal.processor] = ProcessorTally(
            tally.count, tally.gross - reversal.gross.amount
        )
        self._attribute(reversal.attribution, -reversal.gross.amount, -reversal.net.amount)

    def _attribute(self, attribution: Attribution, gross: Decimal, net: Decimal) -> None:
        if attribution.channel is not None:
            channel = attribution.channel
            self.channels[channel] = self.channels.get(channel, ChannelTally()).plus(gross, net)


@dataclass
class CampaignTotals:
    """Everything analytics knows about one campaign, from whichever events arrived so far."""

    campaign_id: str
    first_currency: str | None = None  # of the first payment, for reports before the plan
    currencies: dict[str, CurrencyTotals] = field(default_factory=dict)
    payments_failed: int = 0
    payments_refunded: int = 0  # payments with at least one refund, in any currency
    plan: CampaignPlanned | None = None
    segments: list[Segment] = field(default_factory=list)
    reach: dict[Channel, int] = field(default_factory=dict)
    total_reach: int = 0
    launch: CampaignLaunched | None = None
    ai_costs: dict[str, Decimal] = field(default_factory=dict)  # per AI step, US dollars
    # The W3C traceparent of the campaign's pipeline (its plan): each payment's trace links
    # to it, so the campaign's trace reaches the revenue it earned.
    trace: str | None = None
    version: int = 0

    def record_revenue(self, revenue: RevenueRecorded) -> None:
        currency = revenue.gross.currency
        self.first_currency = self.first_currency or currency
        self.currencies.setdefault(currency, CurrencyTotals()).add(revenue)

    def record_refund(self, reversal: RevenueReversed, *, first_for_payment: bool) -> None:
        """Take a refund's share of revenue back; ``first_for_payment`` counts its payment
        among the refunded ones."""
        self.currencies.setdefault(reversal.gross.currency, CurrencyTotals()).take_back(reversal)
        if first_for_payment:
            self.payments_refunded += 1

    def record_failure(self) -> None:
        self.payments_failed += 1

    def record_plan(self, plan: CampaignPlanned, trace: str | None = None) -> None:
        self.plan = plan
        self.trace = self.trace or trace
        self._record_ai_cost("plan", plan.ai_cost)

    def record_segments(self, segmented: CampaignSegmented) -> None:
        self.segments = list(segmented.segments)
        self._record_ai_cost("segment", segmented.ai_cost)

    def record_content(self, content: CampaignContentGenerated) -> None:
        self._record_ai_cost("content", content.ai_cost)

    def record_launch(self, launched: CampaignLaunched) -> None:
        self.reach = dict(launched.reach)
        self.total_reach = launched.total_reach
        self.launch = launched

    def _record_ai_cost(self, step: str, cost: Decimal | None) -> None:
        # Set, not added: each step is decided once, and a redelivered event counts once.
        self.ai_costs[step] = cost or Decimal(0)

    @property
    def ai_cost(self) -> Decimal:
        return sum(self.ai_costs.values(), Decimal(0))

    @property
    def payments_completed(self) -> int:
        """In every currency."""
        return sum(totals.payments_completed for totals in self.currencies.values())

    @property
    def reporting_currency(self) -> str:
        """The budget's, else the first payment's: the currency ROI can be measured in."""
        if self.plan is not None:
            return self.plan.budget.currency
        return self.first_currency or UNPRICED_CURRENCY

    @property
    def reported(self) -> CurrencyTotals:
        """The sums in the reporting currency (zero when nothing was paid in it)."""
        return self.currencies.get(self.reporting_currency, CurrencyTotals())

    def others(self) -> list[tuple[str, CurrencyTotals]]:
        """The sums in every other currency, sorted by currency."""
        return sorted(
            (
                (currency, totals)
                for currency, totals in self.currencies.items()
                if currency != self.reporting_currency
            ),
            key=lambda item: item[0],
        )

    def money(self, amount: Decimal) -> Money:
        return Money.of(amount, self.reporting_currency)
