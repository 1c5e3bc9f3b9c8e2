"""Analytics' optimisation storage: each cycle's evaluation, the planner's reallocations
and the launcher's ad-set adjustments.

``evaluations`` (_id = campaign|cycle) hold the campaign.evaluated emitted and the state
each test leaves the next cycle; ``reallocations`` (_id = campaign|cycle) and
``ad_adjustments`` (_id = campaign|ad set|controller|time) keep what the other services
decided, once each however often it is announced.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.analytics.evaluation import Evaluation, ExperimentKey, ExperimentState
from shared.events.common import Channel
from shared.events.optimisation import AdSetAdjusted, CampaignEvaluated, CampaignReallocated
from shared.storage.mongo import Document

ADJUSTMENTS_SHOWN = 50


class EvaluationsRepository:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._evaluations = db["evaluations"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._evaluations.create_index([("campaign_id", ASCENDING), ("cycle", ASCENDING)])

    async def add(self, evaluation: Evaluation) -> None:
        """Insert: a second evaluation of the same cycle fails rather than overwrite it."""
        event = evaluation.event
        await self._evaluations.insert_one(
            {
                "_id": f"{event.campaign_id}|{event.cycle}",
                "campaign_id": event.campaign_id,
                "cycle": event.cycle,
                "event": event.model_dump(mode="json"),
                "states": [_state_document(key, s) for key, s in evaluation.states.items()],
            },
            session=self._session,
        )

    async def latest(self, campaign_id: str) -> Evaluation | None:
        found = await self._evaluations.find_one(
            {"campaign_id": campaign_id}, sort=[("cycle", DESCENDING)], session=self._session
        )
        return _evaluation_from(found) if found else None

    async def of_campaign(self, campaign_id: str) -> list[CampaignEvaluated]:
        """Oldest first."""
        cursor = self._evaluations.find({"campaign_id": campaign_id}, {"event": 1})
        return [CampaignEvaluated.model_validate(d["event"]) async for d in cursor.sort("cycle", 1)]


class ReallocationsRepository:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._reallocations = db["reallocations"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._reallocations.create_index([("campaign_id", ASCENDING), ("cycle", ASCENDING)])

    async def record(self, reallocated: CampaignReallocated) -> None:
        key = f"{reallocated.campaign_id}|{reallocated.cycle}"
        document = reallocated.model_dump(mode="json") | {"_id": key}
        await self._reallocations.replace_one(
            {"_id": key}, document, upsert=True, session=self._session
        )

    async def of_campaign(self, campaign_id: str) -> list[CampaignReallocated]:
        """Oldest first."""
        cursor = self._reallocations.find({"campaign_id": campaign_id}).sort("cycle", 1)
        return [CampaignReallocated.model_validate(document) async for document in cursor]


class AdjustmentsRepository:
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._adjustments = db["ad_adjustments"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._adjustments.create_index([("campaign_id", ASCENDING), ("at", ASCENDING)])

    async def record(self, adjusted: AdSetAdjusted) -> None:
        key = "|".join(
            [adjusted.campaign_id, adjusted.ad_set_id, adjusted.controller, adjusted.at.isoformat()]
        )
        document = adjusted.model_dump(mode="json") | {"_id": key, "at": adjusted.at}
        await self._adjustments.replace_one(
            {"_id": key}, document, upsert=True, session=self._session
        )

    async def latest_of(self, campaign_id: str) -> list[AdSetAdjusted]:
        """The newest ``ADJUSTMENTS_SHOWN``, oldest first."""
        cursor = self._adjustments.find({"campaign_id": campaign_id}).sort("at", DESCENDING)
        newest = [AdSetAdjusted.model_validate(d) async for d in cursor.limit(ADJUSTMENTS_SHOWN)]
        return newest[::-1]


def _state_document(key: ExperimentKey, state: ExperimentState) -> Document:
    segment_id, channel = key
    return {
        "segment_id": segment_id,
        "channel": channel.value,
        "weights": state.weights,
        "expected": state.expected,
        "exposures": state.exposures,
        "winner": state.winner,
    }


def _evaluation_from(document: Document) -> Evaluation:
    states = {
        (state["segment_id"], Channel(state["channel"])): ExperimentState(
            weights=dict(state["weights"]),
            expected=dict(state["expected"]),
            exposures=dict(state["exposures"]),
            winner=state["winner"],
        )
        for state in document["states"]
    }
    return Evaluation(CampaignEvaluated.model_validate(document["event"]), states)
