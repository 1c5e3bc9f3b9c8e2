"""What the dashboard reads besides the report: the campaigns analytics holds, and each
campaign's change marker (its totals' version, which every write of them moves, with the
optimiser's latest cycle and the number of reallocations and ad-set adjustments kept, so a
decision shows as soon as it lands). Every replica reads the same database, so a page open
on any replica sees every replica's writes."""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.storage.mongo import Document

LISTED = 200


class CampaignIndex:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._totals = db["campaign_totals"]
        self._evaluations = db["evaluations"]
        self._reallocations = db["reallocations"]
        self._adjustments = db["ad_adjustments"]

    async def listed(self) -> list[dict[str, Any]]:
        """The most recently changed campaigns first."""
        projection = {"plan.name": 1, "payments_completed": 1, "updated_at": 1}
        found = self._totals.find({}, projection).sort("updated_at", DESCENDING).limit(LISTED)
        return [
            {
                "campaign_id": document["_id"],
                "name": (document.get("plan") or {}).get("name"),
                "payments_completed": document.get("payments_completed", 0),
                "updated_at": f"{document['updated_at']:%Y-%m-%d %H:%M:%S}"
                if document.get("updated_at")
                else "",
            }
            async for document in found
        ]

    async def marker(self, campaign_id: str) -> object:
        """Changes whenever the campaign's totals are written or a decision about it is kept."""
        of_campaign = {"campaign_id": campaign_id}
        totals = await self._totals.find_one({"_id": campaign_id}, {"version": 1})
        cycle = await self._evaluations.find_one(
            of_campaign, {"cycle": 1}, sort=[("cycle", DESCENDING)]
        )
        return (
            totals.get("version") if totals else None,
            cycle.get("cycle") if cycle else None,
            await self._reallocations.count_documents(of_campaign),
            await self._adjustments.count_documents(of_campaign),
        )
