"""The planner's campaigns: one document per accepted or rejected request."""

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from shared.events.campaigns import CampaignPlanned, CampaignRejected
from shared.storage.mongo import Document


class CampaignPlans:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._plans = db["plans"]
        self._rejections = db["rejections"]

    async def ensure_indexes(self) -> None:
        await self._rejections.create_index("campaign_id")

    async def exists(self, campaign_id: str, session: AsyncClientSession) -> bool:
        return (
            await self._plans.find_one({"_id": campaign_id}, {"_id": 1}, session=session)
            is not None
        )

    async def add(self, plan: CampaignPlanned, session: AsyncClientSession) -> None:
        document = plan.model_dump(mode="python")
        document["_id"] = plan.campaign_id
        await self._plans.insert_one(document, session=session)

    async def get(self, campaign_id: str) -> CampaignPlanned | None:
        document = await self._plans.find_one({"_id": campaign_id})
        return CampaignPlanned.model_validate(document) if document else None

    async def add_rejection(
        self, rejection: CampaignRejected, event_id: str, session: AsyncClientSession
    ) -> None:
        document = rejection.model_dump(mode="python")
        document["_id"] = event_id
        await self._rejections.insert_one(document, session=session)
