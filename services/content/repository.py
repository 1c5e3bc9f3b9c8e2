"""The content service's data: what has arrived per campaign, and the content generated."""

from __future__ import annotations

from typing import Literal

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.content.domain import ContentBrief
from shared.ai.decisions import DecisionLog
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignPlanned,
    CampaignSegmented,
)
from shared.events.common import Contract
from shared.storage.mongo import Document
from shared.storage.once_per_campaign import OncePerCampaign, merge_into_campaign
from shared.storage.unit_of_work import Transaction

type BriefPart = Literal["planned", "segmented"]


class ContentBriefs:
    """One document per campaign (``_id`` = campaign id) holding the inputs seen so far."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._briefs = db["briefs"]
        self._session = session

    async def record(self, campaign_id: str, part: BriefPart, data: Contract) -> ContentBrief:
        """Add one input and return the brief with everything that has arrived."""
        document = await merge_into_campaign(
            self._briefs, campaign_id, {part: data.model_dump(mode="python")}, self._session
        )
        planned, segmented = document.get("planned"), document.get("segmented")
        return ContentBrief(
            planned=CampaignPlanned.model_validate(planned) if planned else None,
            segmented=CampaignSegmented.model_validate(segmented) if segmented else None,
        )


def generated_content(
    db: AsyncDatabase[Document], session: AsyncClientSession | None = None
) -> OncePerCampaign[CampaignContentGenerated]:
    """The content of each campaign: generated once."""
    return OncePerCampaign(db, "content", CampaignContentGenerated, session)


class ContentTransaction(Transaction):
    """The content's repositories, bound to one transaction: ``async with uow as tx``."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession, source: str
    ) -> None:
        super().__init__(db, session, source)
        self.briefs = ContentBriefs(db, session)
        self.generated = generated_content(db, session)
        self.decisions = DecisionLog(db, session)
