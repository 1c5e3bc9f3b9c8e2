"""The payments waiting for the click they name (see ``late_clicks``).

The repository works inside a transaction when given its session, and reads outside one
otherwise (the jobs).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from shared.events.envelope import CloudEvent
from shared.storage.mongo import Document


class ParkedPayments:
    """``parked_payments`` (_id = payment id): completed payments naming a click analytics
    has not seen, kept with their event until the click arrives or the grace runs out."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._parked = db["parked_payments"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._parked.create_index("click_id")
        await self._parked.create_index("due_at")
        await self._parked.create_index("campaign_id")

    async def park(self, event: CloudEvent[Any], click_id: str, due_at: datetime) -> bool:
        """False when the payment is parked already (re-published under a new event id)."""
        payment_id = event.data.payment_id
        if await self._parked.find_one({"_id": payment_id}, {"_id": 1}, session=self._session):
            return False
        document = {
            "_id": payment_id,
            "campaign_id": event.data.campaign_id,
            "click_id": click_id,
            "due_at": due_at,
            "event": event.model_dump(mode="json"),
        }
        await self._parked.insert_one(document, session=self._session)
        return True

    async def waiting_for(self, click_id: str) -> list[Document]:
        cursor = self._parked.find({"click_id": click_id}, session=self._session)
        return [document["event"] async for document in cursor]

    async def due(self, now: datetime, limit: int = 100) -> list[Document]:
        cursor = self._parked.find({"due_at": {"$lte": now}}, session=self._session)
        return [document["event"] async for document in cursor.sort("due_at", 1).limit(limit)]

    async def release(self, payment_id: str) -> bool:
        """False when it was released already (by the click, or by the other job)."""
        deleted = await self._parked.delete_one({"_id": payment_id}, session=self._session)
        return deleted.deleted_count == 1

    async def count_for(self, campaign_id: str) -> int:
        return await self._parked.count_documents(
            {"campaign_id": campaign_id}, session=self._session
        )
