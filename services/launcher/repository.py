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
from shared.storage.unit_of_work import Transaction


class LaunchBriefs:
    """One document per campaign (``_id`` = campaign id) holding the inputs seen so far.

    Of the content only the number of variants is kept: the launcher needs to know it is
    ready, not what it says.
    """

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._briefs = db["briefs"]
        self._session = session

    async def record_planned(self, planned: CampaignPlanned) -> LaunchBrief:
        return await self._record(
            planned.campaign_id, {"planned": planned.model_dump(mode="python")}
        )

    async def record_segmented(self, segmented: CampaignSegmented) -> LaunchBrief:
        return await self._record(
            segmented.campaign_id, {"segmented": segmented.model_dump(mode="python")}
        )

    async def record_content(self, content: CampaignContentGenerated) -> LaunchBrief:
        return await self._record(content.campaign_id, {"content_variants": len(content.content)})

    async def _record(self, campaign_id: str, fields: Document) -> LaunchBrief:
        document = await merge_into_campaign(self._briefs, campaign_id, fields, self._session)
        planned, segmented = document.get("planned"), document.get("segmented")
        return LaunchBrief(
            planned=CampaignPlanned.model_validate(planned) if planned else None,
            segmented=CampaignSegmented.model_validate(segmented) if segmented else None,
            content_variants=document.get("content_variants"),
        )


def launches(
    db: AsyncDatabase[Document], session: AsyncClientSession | None = None
) -> OncePerCampaign[CampaignLaunched]:
    """Each campaign's launch: a campaign launches once."""
    return OncePerCampaign(db, "launches", CampaignLaunched, session)


class LauncherTransaction(Transaction):
    """The launcher's repositories, bound to one transaction: ``async with uow as tx``."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession, source: str
    ) -> None:
        super().__init__(db, session, source)
        self.briefs = LaunchBriefs(db, session)
        self.launches = launches(db, session)
