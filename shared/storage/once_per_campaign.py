"""A collection holding at most one document per campaign: the outcome a service records once."""

from pydantic import BaseModel
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.storage.mongo import Document


class OncePerCampaign[M: BaseModel]:
    """``_id`` is the campaign id, so a second insert for a campaign is a duplicate key.

    Bound to ``session`` when built for a transaction; without one it reads committed data.
    """

    def __init__(
        self,
        db: AsyncDatabase[Document],
        collection: str,
        model: type[M],
        session: AsyncClientSession | None = None,
    ) -> None:
        self._documents = db[collection]
        self._model = model
        self._session = session

    async def exists(self, campaign_id: str) -> bool:
        found = await self._documents.find_one(
            {"_id": campaign_id}, {"_id": 1}, session=self._session
        )
        return found is not None

    async def add(self, campaign_id: str, value: M) -> None:
        document = value.model_dump(mode="python") | {"_id": campaign_id}
        await self._documents.insert_one(document, session=self._session)

    async def get(self, campaign_id: str) -> M | None:
        document = await self._documents.find_one({"_id": campaign_id}, session=self._session)
        return self._model.model_validate(document) if document else None


async def merge_into_campaign(
    collection: AsyncCollection[Document],
    campaign_id: str,
    fields: Document,
    session: AsyncClientSession | None,
) -> Document:
    """Set ``fields`` on the campaign's document (created if absent) and return all of it.

    For aggregates that wait for several inputs arriving in any order.
    """
    document = await collection.find_one_and_update(
        {"_id": campaign_id},
        {"$set": fields},
        upsert=True,
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    return document or {}  # never None: the update upserts and returns the result
