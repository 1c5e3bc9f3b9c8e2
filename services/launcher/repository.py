"""The launcher's data: what has arrived per campaign, and each campaign's launch."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.launcher.domain import LaunchBrief
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignLaunched,
    CampaignPlanned,
    CampaignSegmented,
)
from shared.storage.mongo import Document
from shared.storage.once_per_campaign import OncePerCampaign, merge_into_campaign


class LaunchBriefs:
    """One document per campaign (``_id`` = campaign id) holding the inputs seen so far.

    Of the content only the number of variants is kept: the launcher needs to know it is
    ready, not what it says.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._briefs = db["briefs"]

    async def record_planned(
        self, planned: CampaignPlanned, session: AsyncClientSession
    ) -> LaunchBrief:
        return await self._record(
            planned.campaign_id, {"planned": planned.model_dump(mode="python")}, session
        )

    async def record_segmented(
        self, segmented: CampaignSegmented, session: AsyncClientSession
    ) -> LaunchBrief:
        return await self._record(
            segmented.campaign_id, {"segmented": segmented.model_dump(mode="python")}, session
        )

    async def record_content(
        self, content: CampaignContentGenerated, session: AsyncClientSession
    ) -> LaunchBrief:
        return await self._record(
            content.campaign_id, {"content_variants": len(content.content)}, session
        )

    async def _record(
        self, campaign_id: str, fields: Document, session: AsyncClientSession
    ) -> LaunchBrief:
        document = await merge_into_campaign(self._briefs, campaign_id, fields, session)
        planned, segmented = document.get("planned"), document.get("segmented")
        return LaunchBrief(
            planned=CampaignPlanned.model_validate(planned) if planned else None,
            segmented=CampaignSegmented.model_validate(segmented) if segmented else None,
            content_variants=document.get("content_variants"),
        )


def launches(db: AsyncDatabase[Document]) -> OncePerCampaign[CampaignLaunched]:
    """Each campaign's launch: a campaign launches once."""
    return OncePerCampaign(db, "launches", CampaignLaunched)
