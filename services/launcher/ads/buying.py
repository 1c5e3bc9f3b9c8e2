"""Buying a launch's paid channels: the planned ad sets made on the ad platform, once.

Each ad set is recorded (``ordered``) before the platform is asked to make it and marked
``live`` with the platform's id after, so a buy can be repeated after any failure or crash:
what has an id is not asked for again, and what was asked for but not answered is found
by its key (the platform's create looks the key up before making anything). Budgets are
lifetime budgets running to the campaign's end (``allocation.py`` says how they are split).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal

from services.launcher.ads.allocation import PlannedAdSet, plan_ad_sets
from services.launcher.ads.platform import AdPlatform, AdSetOrder, Budget, BudgetKind
from services.launcher.domain.brief import LaunchBrief
from services.launcher.storage.ad_sets import AdSets, BoughtAdSet
from shared.events.campaigns import AdSetLaunched, CampaignPlanned
from shared.events.common import Channel

log = logging.getLogger(__name__)


class AdBuyer:
    def __init__(
        self, platform: AdPlatform, ad_sets: AdSets, bids: Mapping[Channel, Decimal]
    ) -> None:
        self._platform = platform
        self._ad_sets = ad_sets
        self._bids = bids

    async def buy(self, brief: LaunchBrief) -> list[AdSetLaunched]:
        """Every paid ad set of the complete ``brief``, made or found; safe to repeat."""
        if brief.planned is None:
            raise ValueError(f"campaign {brief.campaign_id}: the brief is not complete")
        launched = []
        for planned in plan_ad_sets(brief, self._bids):
            bought = await self._ad_sets.order(planned, brief.planned.schedule.ends_at)
            ad_set_id = bought.ad_set_id or await self._make(planned, bought, brief.planned)
            launched.append(
                AdSetLaunched(
                    ad_set_id=ad_set_id,
                    channel=bought.channel,
                    segment_id=bought.segment_id,
                    variant_id=bought.variant_id,
                    budget=bought.budget,
                    bid=bought.bid,
                )
            )
        return launched

    async def _make(self, planned: PlannedAdSet, bought: BoughtAdSet, plan: CampaignPlanned) -> str:
        # The order as first recorded: a retry after the plan's rounding changed (a new
        # bid setting, say) asks for what the first attempt asked for.
        order = AdSetOrder(
            key=bought.key,
            campaign_id=bought.campaign_id,
            placement=bought.channel,
            budget=Budget(BudgetKind.LIFETIME, bought.budget),
            bid=bought.bid,
            creative=planned.creative(fallback_headline=plan.product.name),
            audience=planned.audience(),
            starts_at=plan.schedule.starts_at,
            ends_at=plan.schedule.ends_at,
        )
        ad_set_id = await self._platform.create_ad_set(order)
        await self._ad_sets.made(bought.key, ad_set_id)
        log.info(
            "campaign %s: ad set %s bought for %s (%s)",
            bought.campaign_id,
            ad_set_id,
            bought.key,
            bought.budget,
        )
        return ad_set_id
