"""A reallocation (``campaign.reallocated``) rescales each paid channel's ad set budgets.

The channel's new allocation, less what its ended ad sets spent (and the budgets of any
still being made), is shared among its live ad sets as at launch: in proportion to the
budgets the launch split gave them (``allocation.py``), none below what its ad set has
spent by its last report (the others share what is left). Each changed budget goes to the
platform as the ad set's lifetime budget, then one transaction per ad set stores it (once
per reallocation cycle), emits ``ads.adjusted`` (controller ``reallocation``) and records a
rule decision (step ``budget``). An ad set the platform refuses keeps its budget until the
next reallocation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from services.launcher.ads.allocation import PAID_CHANNELS, plan_ad_sets, rescale
from services.launcher.ads.platform import AdPlatform, AdPlatformError, Budget, BudgetKind
from services.launcher.storage.ad_sets import AdSets, AdSetState, BoughtAdSet
from services.launcher.storage.briefs import LaunchBriefs
from services.launcher.storage.transaction import LauncherTransaction
from shared.events.common import Channel
from shared.events.optimisation import AdSetAdjusted, CampaignReallocated
from shared.events.topics import ADS_ADJUSTED
from shared.money import Money, sum_money
from shared.storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class Rebudgeting:
    def __init__(
        self,
        platform: AdPlatform,
        uow: UnitOfWork[LauncherTransaction],
        bids: Mapping[Channel, Decimal],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._platform = platform
        self._uow = uow
        self._bids = bids
        self._now = now

    async def on_reallocated(self, reallocated: CampaignReallocated) -> list[AdSetAdjusted]:
        """Every paid channel's live ad sets rebudgeted; the changes made."""
        ad_sets = await AdSets(self._uow.db).of_campaign(reallocated.campaign_id)
        launch_split = await self._launch_split(reallocated.campaign_id)
        changes: list[AdSetAdjusted] = []
        for channel in PAID_CHANNELS:
            on_channel = [a for a in ad_sets if a.channel is channel]
            for bought, budget, reason in _rescaled(reallocated, channel, on_channel, launch_split):
                if budget == bought.budget or _applied(bought, reallocated.cycle):
                    continue
                try:
                    changes += await self._apply(bought, budget, reason, reallocated.cycle)
                except AdPlatformError as error:
                    log.warning("ad set %s keeps its budget: %s", bought.ad_set_id, error)
        return changes

    async def _apply(
        self, bought: BoughtAdSet, budget: Money, reason: str, cycle: int
    ) -> list[AdSetAdjusted]:
        await self._platform.change(
            bought.ad_set_id or "", budget=Budget(BudgetKind.LIFETIME, budget)
        )
        event = AdSetAdjusted(
            campaign_id=bought.campaign_id,
            ad_set_id=bought.ad_set_id or "",
            channel=bought.channel,
            segment_id=bought.segment_id,
            variant_id=bought.variant_id,
            bid_before=bought.bid,
            bid=bought.bid,
            budget_before=bought.budget,
            budget=budget,
            controller="reallocation",
            reason=reason,
            at=self._now(),
        )
        async with self._uow as tx:
            if not await AdSets(tx.db, tx.session).rebudgeted(bought.key, cycle, budget):
                return []
            await tx.emit(ADS_ADJUSTED, event, key=bought.campaign_id)
            await tx.decisions.record_rule(bought.campaign_id, "budget", event, reason)
        return [event]

    async def _launch_split(self, campaign_id: str) -> dict[str, Decimal]:
        brief = await LaunchBriefs(self._uow.db).get(campaign_id)
        if brief is None or not brief.complete:
            return {}  # the current budgets stand in for the launch's split
        return {planned.key: planned.budget.amount for planned in plan_ad_sets(brief, self._bids)}


def _spent(bought: BoughtAdSet) -> Money:
    return bought.delivered.spend if bought.delivered else Money.zero(bought.budget.currency)


def _rescaled(
    reallocated: CampaignReallocated,
    channel: Channel,
    on_channel: list[BoughtAdSet],
    launch_split: Mapping[str, Decimal],
) -> list[tuple[BoughtAdSet, Money, str]]:
    """The channel's live ad sets with their new budgets and the reason for each."""
    allocation = reallocated.allocation.get(channel)
    live = [a for a in on_channel if a.state is AdSetState.LIVE and a.ad_set_id]
    if allocation is None or not live:
        return []
    # An ended ad set keeps what it spent; one still being made keeps its whole budget.
    fixed = [
        a.budget if a.state is AdSetState.ORDERED else _spent(a)
        for a in on_channel
        if a not in live
    ]
    left = allocation - sum_money(fixed, allocation.currency)
    weights = [Fraction(launch_split.get(a.key, a.budget.amount)) for a in live]
    budgets = rescale(left, weights, [_spent(a) for a in live])
    previous = reallocated.previous.get(channel)
    return [
        (
            bought,
            budget,
            f"{channel.value} reallocated {previous} -> {allocation} (cycle "
            f"{reallocated.cycle}): its live ad sets share {left} as at launch, none under "
            f"its spend; this one spent {_spent(bought)}: {bought.budget} -> {budget}",
        )
        for bought, budget in zip(live, budgets, strict=True)
    ]


def _applied(bought: BoughtAdSet, cycle: int) -> bool:
    return bought.budget_cycle is not None and bought.budget_cycle >= cycle
