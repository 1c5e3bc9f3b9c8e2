"""A collection holding at most one document per campaign: the outcome a service records once."""

from pydantic import BaseModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from shared.storage.mongo import Document


class OncePerCampaign[M: BaseModel]:
    """``_id`` is the campaign id, so a second insert for a campaign is a duplicate key."""

    def __init__(self, db: AsyncDatabase[Document], collection: str, model: type[M]) -> None:
        self._documents = db[collection]
        self._model = model

    async def exists(self, campaign_id: str, session: AsyncClientSession) -> bool:
        found = await self._documents.find_one({"_id": campaign_id}, {"_id": 1}, session=session)
        return found is not None

    async def add(self, campaign_id: str, value: M, session: AsyncClientSession) -> None:
        document = value.model_dump(mode="python") | {"_id": campaign_id}
        await self._documents.insert_one(document, session=session)

    async def get(self, campaign_id: str) -> M | None:
        document = await self._documents.find_one({"_id": campaign_id})
        return self._model.model_validate(document) if document else None
