"""Every tracked click the launcher answered (``_id`` = the click id handed to the landing
page). No address or browser data is kept: the click id is what links a click to a sale."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from shared.events.engagement import LinkClicked
from shared.storage.mongo import Document


class Clicks:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._clicks = db["clicks"]
        self._session = session

    async def add(self, click: LinkClicked) -> None:
        document = click.model_dump(mode="python") | {"_id": click.click_id}
        await self._clicks.insert_one(document, session=self._session)

    async def get(self, click_id: str) -> LinkClicked | None:
        document = await self._clicks.find_one({"_id": click_id}, session=self._session)
        return LinkClicked.model_validate(document) if document else None
