"""The planner's records: each accepted campaign's plan, and each rejected request."""

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from shared.events.campaigns import CampaignPlanned, CampaignRejected
from shared.storage.mongo import Document
from shared.storage.once_per_campaign import OncePerCampaign


def campaign_plans(db: AsyncDatabase[Document]) -> OncePerCampaign[CampaignPlanned]:
    """One plan per campaign id: a campaign id is accepted once."""
    return OncePerCampaign(db, "plans", CampaignPlanned)


class Rejections:
    """Invalid requests, by the id of the event that carried them."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._rejections = db["rejections"]

    async def ensure_indexes(self) -> None:
        await self._rejections.create_index("campaign_id")

    async def add(
        self, rejection: CampaignRejected, event_id: str, session: AsyncClientSession
    ) -> None:
        document = rejection.model_dump(mode="python") | {"_id": event_id}
        await self._rejections.insert_one(document, session=session)
