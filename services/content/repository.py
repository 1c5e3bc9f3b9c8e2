"""The content service's data: what has arrived per campaign, and the content generated."""

from __future__ import annotations

from typing import Literal

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.content.domain import ContentBrief
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignPlanned,
    CampaignSegmented,
)
from shared.events.common import Contract
from shared.storage.mongo import Document
from shared.storage.once_per_campaign import OncePerCampaign, merge_into_campaign

type BriefPart = Literal["planned", "segmented"]


class ContentBriefs:
    """One document per campaign (``_id`` = campaign id) holding the inputs seen so far."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._briefs = db["briefs"]

    async def record(
        self, campaign_id: str, part: BriefPart, data: Contract, session: AsyncClientSession
    ) -> ContentBrief:
        """Add one input and return the brief with everything that has arrived."""
        document = await merge_into_campaign(
            self._briefs, campaign_id, {part: data.model_dump(mode="python")}, session
        )
        planned, segmented = document.get("planned"), document.get("segmented")
        return ContentBrief(
            planned=CampaignPlanned.model_validate(planned) if planned else None,
            segmented=CampaignSegmented.model_validate(segmented) if segmented else None,
        )


def generated_content(db: AsyncDatabase[Document]) -> OncePerCampaign[CampaignContentGenerated]:
    """The content of each campaign: generated once."""
    return OncePerCampaign(db, "content", CampaignContentGenerated)
