"""Each optimisation cycle (``campaign.evaluated``), every live ad set's bid is set again.

Per ad set the target-CPA (or target-ROAS) controller first moves its value bid, the most
a thousand impressions are worth (``domain/bidding.py``), from the platform's delivery
(the stored report) and the arm's conversions and net revenue in the event; the live bid
never stays above that value nor above the channel's maximum bid. Pacing then moves the
live bid under that ceiling so spend follows the plan over the flight
(``domain/pacing.py``), from the spend it saw last cycle (the flight's start at first).

A changed bid goes to the platform first, then one transaction per ad set stores the bids
and the spend seen, emits ``ads.adjusted`` per controller that changed the live bid (with
its reason) and records each as a rule decision (step ``bid`` or ``pacing``). The store is
conditional on the cycle, so a redelivered cycle changes nothing; the platform may have
been told the same bid again, which changes nothing either. An ad set the platform
refuses is left as it was and tried again next cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from services.launcher.ads.platform import AdPlatform, AdPlatformError
from services.launcher.domain.bidding import AdSetPerformance, BidChange, TargetBidding
from services.launcher.domain.pacing import Flight, Pacing, SpendSeen
from services.launcher.storage.ad_sets import AdSets, AdSetState, BoughtAdSet, SpendMark
from services.launcher.storage.briefs import LaunchBriefs
from services.launcher.storage.transaction import LauncherTransaction
from shared.events.campaigns import CampaignPlanned
from shared.events.common import Channel
from shared.events.optimisation import AdSetAdjusted, ArmFigures, CampaignEvaluated
from shared.events.topics import ADS_ADJUSTED
from shared.money import Money, minor_unit, round_half_up
from shared.storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

type BiddingFor = Callable[[str, Decimal], TargetBidding]  # (currency, max bid) -> rules


class BidControl:
    def __init__(
        self,
        platform: AdPlatform,
        uow: UnitOfWork[LauncherTransaction],
        *,
        bidding: BiddingFor,
        pacing: Pacing,
        max_bids: Mapping[Channel, Decimal],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._platform = platform
        self._uow = uow
        self._bidding = bidding
        self._pacing = pacing
        self._max_bids = max_bids
        self._now = now

    async def on_evaluated(self, evaluated: CampaignEvaluated) -> list[AdSetAdjusted]:
        """Both controllers over the campaign's live ad sets; the changes made."""
        brief = await LaunchBriefs(self._uow.db).get(evaluated.campaign_id)
        if brief is None or brief.planned is None:
            return []  # not a campaign this launcher bought anything for
        arms = {(a.segment_id, a.channel, a.variant_id): a for a in evaluated.arms}
        changes: list[AdSetAdjusted] = []
        for bought in await AdSets(self._uow.db).of_campaign(evaluated.campaign_id):
            if bought.state is not AdSetState.LIVE or bought.ad_set_id is None:
                continue
            if bought.adjusted_cycle is not None and bought.adjusted_cycle >= evaluated.cycle:
                continue
            arm = arms.get((bought.segment_id, bought.channel, bought.variant_id))
            try:
                changes += await self._adjust(bought, arm, brief.planned, evaluated.cycle)
            except AdPlatformError as error:
                log.warning(
                    "campaign %s: ad set %s not adjusted this cycle: %s",
                    bought.campaign_id,
                    bought.ad_set_id,
                    error,
                )
        return changes

    async def _adjust(
        self, bought: BoughtAdSet, arm: ArmFigures | None, plan: CampaignPlanned, cycle: int
    ) -> list[AdSetAdjusted]:
        currency, now = bought.bid.currency, self._now()
        unit = minor_unit(currency)
        spent = bought.delivered.spend if bought.delivered else Money.zero(currency)
        rules = self._bidding(currency, round_half_up(self._max_bids[bought.channel], currency))
        value_before = (bought.value_bid or bought.bid).amount
        valued = rules.next_bid(value_before, _performance(bought, arm), plan.product.price.amount)
        ceiling = valued.bid  # at most the channel's maximum bid
        capped = BidChange(min(bought.bid.amount, ceiling), valued.reason)
        previous = bought.paced or SpendMark(at=plan.schedule.starts_at, spent=Money.zero(currency))
        paced = self._pacing.next_bid(
            bid=capped.bid,
            ceiling=ceiling,
            unit=unit,
            budget=bought.budget.amount,
            flight=Flight(plan.schedule.starts_at, plan.schedule.ends_at),
            previous=SpendSeen(previous.at, previous.spent.amount),
            now=SpendSeen(now, spent.amount),
        )
        steps = [
            (str(rules.strategy), "bid", capped),
            ("pacing", "pacing", paced),
        ]
        adjusted, bid = [], bought.bid.amount
        for controller, step, change in steps:
            if change.bid != bid:
                adjusted.append((step, self._event(bought, bid, change, controller, now)))
                bid = change.bid
        new_bid = Money(amount=bid, currency=currency)
        if new_bid != bought.bid:
            await self._platform.change(bought.ad_set_id or "", bid=new_bid)
        async with self._uow as tx:
            stored = await AdSets(tx.db, tx.session).adjusted(
                bought.key,
                cycle,
                bid=new_bid,
                value_bid=Money(amount=valued.bid, currency=currency),
                paced=SpendMark(at=now, spent=spent),
            )
            if not stored:
                return []
            for step, event in adjusted:
                await tx.emit(ADS_ADJUSTED, event, key=bought.campaign_id)
                await tx.decisions.record_rule(bought.campaign_id, step, event, event.reason)
        return [event for _, event in adjusted]

    @staticmethod
    def _event(
        bought: BoughtAdSet, before: Decimal, change: BidChange, controller: str, at: datetime
    ) -> AdSetAdjusted:
        currency = bought.bid.currency
        return AdSetAdjusted(
            campaign_id=bought.campaign_id,
            ad_set_id=bought.ad_set_id or "",
            channel=bought.channel,
            segment_id=bought.segment_id,
            variant_id=bought.variant_id,
            bid_before=Money(amount=before, currency=currency),
            bid=Money(amount=change.bid, currency=currency),
            budget_before=bought.budget,
            budget=bought.budget,
            controller=controller,
            reason=change.reason,
            at=at,
        )


def _performance(bought: BoughtAdSet, arm: ArmFigures | None) -> AdSetPerformance:
    delivered = bought.delivered
    return AdSetPerformance(
        impressions=delivered.impressions if delivered else 0,
        clicks=delivered.clicks if delivered else 0,
        tracked_clicks=arm.exposures if arm else 0,
        conversions=arm.conversions if arm else 0,
        net=arm.net.amount if arm else Decimal(0),
    )
