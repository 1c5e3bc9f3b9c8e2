"""One optimisation cycle's budget decision: what was spent, what is left, its new split.

Spend per channel is what analytics reports in ``campaign.evaluated``. Email has no cost of
its own: analytics charges the plan's whole email allocation against it once anyone has been
emailed, so email's budget is a fixed cost, not a lever. Only the ad channels (social, web)
are live for reallocation; email keeps its allocation, and its unspent part stays reserved.

What is left of a channel is its current allocation (the plan's, or the last cycle's) less
its spend, never below zero. Should reported spend overrun an allocation, the others' left
shrinks pro rata so the allocation total never passes the budget. The live channels' left
is then re-planned (``reallocation.py``); the new allocation is spend plus the new share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.planner.reallocation import Reallocation, ReallocationRules, reallocate
from services.planner.response_curves import ResponseCurve
from shared.events.campaigns import CampaignPlanned
from shared.events.common import Channel
from shared.events.optimisation import CampaignEvaluated
from shared.money import Money, minor_unit, sum_money

FIXED_COST_CHANNELS = frozenset({Channel.EMAIL})


@dataclass(frozen=True)
class Replanning:
    previous: dict[Channel, Money]
    spent: dict[Channel, Money]
    remaining: Money  # the budget not yet spent, every channel
    live_remaining: dict[Channel, Money]  # what the live channels had left, before
    reallocation: Reallocation
    allocation: dict[Channel, Money]

    @property
    def changed(self) -> bool:
        return self.allocation != self.previous


def replan(
    plan: CampaignPlanned,
    current: Mapping[Channel, Money],
    evaluated: CampaignEvaluated,
    curves: Mapping[Channel, ResponseCurve],
    rules: ReallocationRules,
) -> Replanning:
    currency = plan.budget.currency
    spent = spent_by_channel(current, evaluated, currency)
    left = {c: max(current[c] - spent[c], Money.zero(currency)) for c in current}
    total_spent = sum_money(list(spent.values()), currency)
    headroom = max(plan.budget - total_spent, Money.zero(currency))
    left = _within(left, headroom)
    live = {c: m for c, m in left.items() if c not in FIXED_COST_CHANNELS}
    price = plan.product.price
    if live:
        reallocation = reallocate(live, curves, spent, price, rules)
    else:
        reallocation = Reallocation({}, Money.zero(currency), ["no channel is live"])
    new_left = left | reallocation.allocation
    return Replanning(
        previous=dict(current),
        spent=spent,
        remaining=headroom,
        live_remaining=live,
        reallocation=reallocation,
        allocation={c: spent[c] + new_left[c] for c in current},
    )


def spent_by_channel(
    current: Mapping[Channel, Money], evaluated: CampaignEvaluated, currency: str
) -> dict[Channel, Money]:
    """Each channel's reported spend; a channel not reported, or in another currency, spent 0."""
    reported = {f.channel: f.spend for f in evaluated.channels if f.spend.currency == currency}
    return {c: reported.get(c, Money.zero(currency)) for c in current}


def _within(left: dict[Channel, Money], headroom: Money) -> dict[Channel, Money]:
    """``left`` scaled down pro rata, exact to the cent, when it adds up to more than
    ``headroom``; the cents flooring leaves over go to the channels with most left."""
    currency = headroom.currency
    total = sum_money(list(left.values()), currency)
    if total <= headroom:
        return left
    unit = minor_unit(currency)
    units = {c: int(m.amount / unit) for c, m in left.items()}
    total_units, room = sum(units.values()), int(headroom.amount / unit)
    scaled = {c: u * room // total_units for c, u in units.items()}
    for channel in sorted(units, key=lambda c: -units[c])[: room - sum(scaled.values())]:
        scaled[channel] += 1
    return {c: Money(amount=unit * Decimal(u), currency=currency) for c, u in scaled.items()}
