"""Each campaign's brief (``_id`` = campaign id) and its audience, chunk by chunk.

The brief keeps the whole content: the launcher renders it per recipient at send time.
Audience chunks are kept one document each (``<campaign>/<chunk>``), so a redelivered
chunk overwrites itself and a large audience never makes one oversized document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.launcher.domain.brief import LaunchBrief
from shared.events.campaigns import (
    AudienceMember,
    CampaignAudience,
    CampaignContentGenerated,
    CampaignPlanned,
    CampaignSegmented,
    ContentPiece,
)
from shared.storage.mongo import Document
from shared.storage.once_per_campaign import merge_into_campaign


class LaunchBriefs:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._briefs = db["briefs"]
        self._audience = db["audience"]
        self._session = session

    async def record_planned(self, planned: CampaignPlanned) -> LaunchBrief:
        return await self._merge(planned.campaign_id, {"planned": _dump(planned)})

    async def record_segmented(self, segmented: CampaignSegmented) -> LaunchBrief:
        return await self._merge(segmented.campaign_id, {"segmented": _dump(segmented)})

    async def record_content(self, content: CampaignContentGenerated) -> LaunchBrief:
        pieces = [_dump(piece) for piece in content.content]
        return await self._merge(content.campaign_id, {"content": pieces})

    async def record_audience(self, chunk: CampaignAudience) -> LaunchBrief:
        members = [[member.customer_id, member.segment_id] for member in chunk.members]
        await self._audience.replace_one(
            {"_id": f"{chunk.campaign_id}/{chunk.chunk}"},
            {"campaign_id": chunk.campaign_id, "chunk": chunk.chunk, "members": members},
            upsert=True,
            session=self._session,
        )
        document = await self._briefs.find_one_and_update(
            {"_id": chunk.campaign_id},
            {"$addToSet": {"audience_chunks": chunk.chunk}, "$set": {"chunks": chunk.chunks}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=self._session,
        )
        return brief_of(chunk.campaign_id, document or {})

    async def get(self, campaign_id: str) -> LaunchBrief | None:
        document = await self._briefs.find_one({"_id": campaign_id}, session=self._session)
        return brief_of(campaign_id, document) if document else None

    async def audience(self, campaign_id: str) -> AsyncIterator[list[AudienceMember]]:
        """The campaign's members, a chunk at a time, in chunk order."""
        cursor = self._audience.find(
            {"campaign_id": campaign_id}, sort=[("chunk", 1)], session=self._session
        )
        async for document in cursor:
            yield [
                AudienceMember(customer_id=customer, segment_id=segment)
                for customer, segment in document["members"]
            ]

    async def _merge(self, campaign_id: str, fields: Document) -> LaunchBrief:
        document = await merge_into_campaign(self._briefs, campaign_id, fields, self._session)
        return brief_of(campaign_id, document)


def brief_of(campaign_id: str, document: Document) -> LaunchBrief:
    planned, segmented, content = (document.get(k) for k in ("planned", "segmented", "content"))
    return LaunchBrief(
        campaign_id=campaign_id,
        planned=CampaignPlanned.model_validate(planned) if planned else None,
        segmented=CampaignSegmented.model_validate(segmented) if segmented else None,
        content=[ContentPiece.model_validate(p) for p in content] if content is not None else None,
        audience_chunks=frozenset(document.get("audience_chunks", ())),
        audience_chunk_count=document.get("chunks"),
    )


def _dump(model: Any) -> Document:
    dumped: Document = model.model_dump(mode="python")
    return dumped
