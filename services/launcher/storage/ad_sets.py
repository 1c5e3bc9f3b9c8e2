"""The ad sets the launcher bought, one document each (``_id`` = the ad set's key,
campaign/segment/variant/channel, which is also its name on the platform).

A document is written when the ad set is ordered, before the platform is called, and gets
the platform's id once the platform made it: a buy resumed after a crash skips what has
an id and asks the platform for the rest by key. Reports move each ad set's click cursor
and running totals forward; the move is conditional on the cursor the report started
from, so two readers of the same report cannot both emit its clicks. The bid and pacing
controllers store their bids and the spend they last saw, once per optimisation cycle
(conditional on the cycle, so a redelivered cycle changes nothing), and a reallocation
its budgets, once per reallocation cycle.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, NonNegativeInt
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.launcher.ads.allocation import PlannedAdSet
from shared.events.common import Channel
from shared.money import Money
from shared.storage.mongo import Document


class AdSetState(StrEnum):
    ORDERED = "ordered"  # recorded; the platform may or may not have made it yet
    LIVE = "live"  # made, reported on every round
    ENDED = "ended"  # paused once its campaign ended; its last report read


class Delivered(BaseModel):
    model_config = ConfigDict(frozen=True)

    impressions: NonNegativeInt
    clicks: NonNegativeInt
    spend: Money


class SpendMark(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: AwareDatetime
    spent: Money


class BoughtAdSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    key: str
    campaign_id: str
    segment_id: str
    variant_id: str
    channel: Channel
    budget: Money
    bid: Money
    ends_at: AwareDatetime | None
    state: AdSetState
    ad_set_id: str | None = None
    click_cursor: str | None = None
    delivered: Delivered | None = None
    revision: NonNegativeInt = 0  # moved by every report, so a report applies once
    value_bid: Money | None = None  # the target-CPA controller's; None: the launch bid
    paced: SpendMark | None = None  # spend as the pacing controller last saw it
    adjusted_cycle: int | None = None  # the last campaign.evaluated cycle applied
    budget_cycle: int | None = None  # the last campaign.reallocated cycle applied


class AdSets:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._ad_sets = db["ad_sets"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._ad_sets.create_index([("state", 1), ("campaign_id", 1)])

    async def order(self, planned: PlannedAdSet, ends_at: datetime | None) -> BoughtAdSet:
        """Record ``planned`` unless its key is recorded; what is stored either way."""
        ordered = BoughtAdSet(
            key=planned.key,
            campaign_id=planned.campaign_id,
            segment_id=planned.segment.segment_id,
            variant_id=planned.piece.variant_id,
            channel=planned.channel,
            budget=planned.budget,
            bid=planned.bid,
            ends_at=ends_at,
            state=AdSetState.ORDERED,
        )
        stored = await self._ad_sets.find_one_and_update(
            {"_id": planned.key},
            {"$setOnInsert": ordered.model_dump(mode="python")},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        return BoughtAdSet.model_validate(stored)

    async def made(self, key: str, ad_set_id: str) -> None:
        await self._ad_sets.update_one(
            {"_id": key, "state": AdSetState.ORDERED.value},
            {"$set": {"ad_set_id": ad_set_id, "state": AdSetState.LIVE.value}},
            session=self._session,
        )

    async def live(self) -> list[BoughtAdSet]:
        cursor = self._ad_sets.find(
            {"state": AdSetState.LIVE.value}, sort=[("_id", 1)], session=self._session
        )
        return [BoughtAdSet.model_validate(document) async for document in cursor]

    async def of_campaign(self, campaign_id: str) -> list[BoughtAdSet]:
        cursor = self._ad_sets.find(
            {"campaign_id": campaign_id}, sort=[("_id", 1)], session=self._session
        )
        return [BoughtAdSet.model_validate(document) async for document in cursor]

    async def reported(
        self,
        bought: BoughtAdSet,
        *,
        cursor: str | None,
        delivered: Delivered,
        ended: bool,
    ) -> bool:
        """Move the click cursor and totals on from ``bought``'s revision; False when another
        report moved them first (nothing is changed then)."""
        fields: Document = {"click_cursor": cursor, "delivered": delivered.model_dump()}
        if ended:
            fields["state"] = AdSetState.ENDED.value
        result = await self._ad_sets.update_one(
            {"_id": bought.key, "revision": bought.revision},
            {"$set": fields, "$inc": {"revision": 1}},
            session=self._session,
        )
        return result.matched_count == 1

    async def adjusted(
        self,
        key: str,
        cycle: int,
        *,
        bid: Money,
        value_bid: Money,
        paced: SpendMark,
    ) -> bool:
        """Store one optimisation cycle's bids; False when that cycle was applied already."""
        fields = {
            "bid": bid.model_dump(),
            "value_bid": value_bid.model_dump(),
            "paced": paced.model_dump(),
            "adjusted_cycle": cycle,
        }
        return await self._once_per_cycle(key, "adjusted_cycle", cycle, fields)

    async def rebudgeted(self, key: str, cycle: int, budget: Money) -> bool:
        """Store one reallocation's budget; False when that cycle was applied already."""
        fields = {"budget": budget.model_dump(), "budget_cycle": cycle}
        return await self._once_per_cycle(key, "budget_cycle", cycle, fields)

    async def _once_per_cycle(self, key: str, field: str, cycle: int, fields: Document) -> bool:
        result = await self._ad_sets.update_one(
            {"_id": key, "$or": [{field: None}, {field: {"$lt": cycle}}]},
            {"$set": fields},
            session=self._session,
        )
        return result.matched_count == 1
