"""What a campaign's totals say: rates, average, spend, ROI, and the performance event.

Money figures are in the reporting currency (see ``CampaignTotals.reporting_currency``);
payments in other currencies are listed beside them, never converted. Counts and rates
cover every currency.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from services.analytics.domain import CampaignTotals, ChannelTally
from shared.events.campaigns import CampaignPerformance, ProcessorShare, TotalsInCurrency
from shared.events.common import Channel
from shared.money import Money, round_half_up

# Model providers bill in US dollars. Analytics keeps no exchange rates, so the AI cost
# counts as spend only for campaigns in this currency; others report it beside the spend.
AI_COST_CURRENCY = "USD"


def success_rate(totals: CampaignTotals) -> float:
    completed = totals.payments_completed
    attempted = completed + totals.payments_failed
    return round(completed / attempted, 4) if attempted else 0.0


def average_transaction(totals: CampaignTotals) -> Money:
    reported = totals.reported
    if not reported.payments_completed:
        return totals.money(Decimal(0))
    currency = totals.reporting_currency
    average = round_half_up(reported.gross / reported.payments_completed, currency)
    return Money.of(average, currency)


def spend(totals: CampaignTotals) -> Money | None:
    """The planned budget plus what the AI steps cost (see ``AI_COST_CURRENCY``)."""
    if totals.plan is None:
        return None
    budget = totals.plan.budget
    if budget.currency != AI_COST_CURRENCY:
        return budget
    return Money.of(round_half_up(budget.amount + totals.ai_cost, budget.currency), budget.currency)


def actual_roi(totals: CampaignTotals) -> float | None:
    """(net revenue in the budget's currency - spend) / spend; None before the plan."""
    spent = spend(totals)
    if spent is None:
        return None
    return round(float((totals.reported.net - spent.amount) / spent.amount), 4)


def conversion_rate(totals: CampaignTotals) -> float | None:
    """Completed payments per person reached; None until the launch reports a reach."""
    if not totals.total_reach:
        return None
    return round(totals.payments_completed / totals.total_reach, 6)


def processor_mix(totals: CampaignTotals) -> list[ProcessorShare]:
    """Per processor, the largest gross first, of the payments in the reporting currency."""
    tallies = totals.reported.processors
    ranked = sorted(tallies.items(), key=lambda item: (-item[1].gross, item[0]))
    return [
        ProcessorShare(processor=name, count=tally.count, gross=totals.money(tally.gross))
        for name, tally in ranked
    ]


def other_currencies(totals: CampaignTotals) -> list[TotalsInCurrency]:
    return [
        TotalsInCurrency(
            currency=currency,
            gross=Money.of(sums.gross, currency),
            fees=Money.of(sums.fees, currency),
            net=Money.of(sums.net, currency),
            payments_completed=sums.payments_completed,
            refunded=Money.of(sums.refunded, currency),
        )
        for currency, sums in totals.others()
    ]


def revenue_by_channel(totals: CampaignTotals) -> tuple[dict[Channel, Money], dict[Channel, Money]]:
    """Attributed gross and net per channel (last touch), in the reporting currency: every
    planned channel, zero where nothing was attributed, so a planner learns that a channel
    earned nothing rather than nothing at all. Both empty before a plan or a sale."""
    tallies = totals.reported.channels
    channels = sorted(set(totals.plan.allocation if totals.plan else ()) | set(tallies))
    zero = ChannelTally()
    gross = {c: totals.money(tallies.get(c, zero).gross) for c in channels}
    net = {c: totals.money(tallies.get(c, zero).net) for c in channels}
    return gross, net


def performance(totals: CampaignTotals, as_of: datetime) -> CampaignPerformance:
    reported = totals.reported
    gross_by_channel, net_by_channel = revenue_by_channel(totals)
    return CampaignPerformance(
        campaign_id=totals.campaign_id,
        as_of=as_of,
        gross_revenue=totals.money(reported.gross),
        fees=totals.money(reported.fees),
        net_revenue=totals.money(reported.net),
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
        revenue_by_channel=gross_by_channel or None,
        net_revenue_by_channel=net_by_channel or None,
        refunds=totals.money(reported.refunded),
        other_currencies=other_currencies(totals) or None,
    )
