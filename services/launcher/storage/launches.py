"""Each campaign's launch as it goes (``_id`` = campaign id): ready once its brief is
complete, then targeted (every delivery decided), then bought (its ad sets created), then
launched (``campaign.launched`` emitted). Each step is recorded when done, so a launch
interrupted by a crash resumes at the step it had reached."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.events.campaigns import AdSetLaunched, CampaignLaunched
from shared.messaging.trace_context import TRACE_FIELDS, emitted_trace_context
from shared.storage.mongo import Document


class LaunchState(StrEnum):
    READY = "ready"
    TARGETED = "targeted"
    BOUGHT = "bought"
    LAUNCHED = "launched"


class Launches:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._launches = db["launches"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._launches.create_index("state")

    async def open(self, campaign_id: str, now: datetime, cause: str) -> bool:
        """Mark the campaign ready to launch; False if it already was. ``cause`` is the id of
        the event that completed its brief: ``campaign.launched`` names it as its cause, and
        the launch, run later in the background, continues the trace it was handled in."""
        try:
            await self._launches.insert_one(
                {
                    "_id": campaign_id,
                    "state": LaunchState.READY.value,
                    "since": now,
                    "cause": cause,
                    **emitted_trace_context(),
                },
                session=self._session,
            )
        except DuplicateKeyError:
            return False
        return True

    async def trace_context(self, campaign_id: str) -> Document:
        """The ``traceparent`` (and ``tracestate``) the launch continues; empty if untraced."""
        projection = dict.fromkeys(TRACE_FIELDS, 1) | {"_id": 0}
        found = await self._launches.find_one(
            {"_id": campaign_id}, projection, session=self._session
        )
        return found or {}

    async def unfinished(self) -> list[tuple[str, LaunchState]]:
        cursor = self._launches.find(
            {"state": {"$ne": LaunchState.LAUNCHED.value}},
            {"state": 1},
            sort=[("since", 1)],
            session=self._session,
        )
        return [(doc["_id"], LaunchState(doc["state"])) async for doc in cursor]

    async def advance(
        self, campaign_id: str, reached: LaunchState, now: datetime, **fields: object
    ) -> None:
        await self._launches.update_one(
            {"_id": campaign_id},
            {"$set": {"state": reached.value, f"{reached.value}_at": now, **fields}},
            session=self._session,
        )

    async def targeted_chunks(self, campaign_id: str) -> frozenset[int]:
        document = await self._launches.find_one(
            {"_id": campaign_id}, {"targeted_chunks": 1}, session=self._session
        )
        return frozenset((document or {}).get("targeted_chunks", ()))

    async def chunk_targeted(self, campaign_id: str, chunk: int) -> None:
        await self._launches.update_one(
            {"_id": campaign_id},
            {"$addToSet": {"targeted_chunks": chunk}},
            session=self._session,
        )

    async def cause(self, campaign_id: str) -> str | None:
        document = await self._launches.find_one(
            {"_id": campaign_id}, {"cause": 1}, session=self._session
        )
        found: str | None = (document or {}).get("cause")
        return found

    async def targeted_at(self, campaign_id: str) -> datetime | None:
        """When every delivery of the campaign had been decided; None before."""
        document = await self._launches.find_one(
            {"_id": campaign_id}, {"targeted_at": 1}, session=self._session
        )
        found: datetime | None = (document or {}).get("targeted_at")
        return found

    async def ad_sets(self, campaign_id: str) -> list[AdSetLaunched]:
        document = await self._launches.find_one({"_id": campaign_id}, session=self._session)
        return [AdSetLaunched.model_validate(a) for a in (document or {}).get("ad_sets", [])]

    async def launched(self, campaign_id: str) -> CampaignLaunched | None:
        document = await self._launches.find_one({"_id": campaign_id}, session=self._session)
        report = (document or {}).get("report")
        return CampaignLaunched.model_validate(report) if report else None
