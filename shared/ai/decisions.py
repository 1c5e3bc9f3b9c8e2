"""The decision log: every AI step's decision, for audit and replay.

Each service stores its own decisions in its ``decisions`` collection, written in the same
transaction as the work the decision caused. ``decision_routes`` serves them over the
service's HTTP port to keys with the ``reports:read`` scope; ``campaignctl decisions`` reads
them from there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from shared.ai.runner import Decision
from shared.api_keys.keyring import ApiKeys
from shared.api_keys.keys import Scope
from shared.api_keys.starlette_routes import requiring
from shared.storage.mongo import Document


class DecisionLog:
    """Bound to ``session`` when built for a transaction, so a decision commits with the
    work it caused."""

    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession | None = None
    ) -> None:
        self._decisions = db["decisions"]
        self._session = session

    async def ensure_indexes(self) -> None:
        await self._decisions.create_index([("campaign_id", ASCENDING), ("at", ASCENDING)])

    async def record[M: BaseModel](
        self,
        campaign_id: str,
        step: str,
        decision: Decision[M],
    ) -> None:
        await self._decisions.insert_one(
            {
                "campaign_id": campaign_id,
                "step": step,
                "engine": decision.engine,
                "model": decision.model,
                "fallback_reason": decision.fallback_reason,
                "template_version": decision.template_version,
                "input_hash": decision.input_hash,
                "output": decision.output.model_dump(mode="json"),
                "violations": list(decision.violations),
                "latency_ms": round(decision.latency_seconds * 1000, 1),
                "attempts": decision.attempts,
                "input_tokens": decision.usage.input_tokens,
                "output_tokens": decision.usage.output_tokens,
                "cost_usd": decision.cost,
                "at": datetime.now(UTC),
            },
            session=self._session,
        )

    async def record_rule(
        self, campaign_id: str, step: str, output: BaseModel, summary: str
    ) -> None:
        """A decision taken by a rule (a verdict, weights, a bid), not a model: no tokens, no
        cost, and a one-line ``summary`` of what was decided and why."""
        await self._decisions.insert_one(
            {
                "campaign_id": campaign_id,
                "step": step,
                "engine": "rules",
                "summary": summary,
                "output": output.model_dump(mode="json"),
                "violations": [],
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": Decimal(0),
                "at": datetime.now(UTC),
            },
            session=self._session,
        )

    async def for_campaign(self, campaign_id: str) -> list[dict[str, Any]]:
        """The campaign's decisions, oldest first, as JSON-ready dictionaries."""
        found = self._decisions.find({"campaign_id": campaign_id}, {"_id": False})
        return [_as_json(document) async for document in found.sort("at", ASCENDING)]


def _as_json(document: Document) -> dict[str, Any]:
    return document | {
        "cost_usd": str(document["cost_usd"]),
        "at": document["at"].isoformat(),
    }


def decision_routes(log: DecisionLog, keys: ApiKeys) -> list[BaseRoute]:
    async def decisions(request: Request) -> JSONResponse:
        campaign_id = request.path_params["campaign_id"]
        return JSONResponse(
            {"campaign_id": campaign_id, "decisions": await log.for_campaign(campaign_id)}
        )

    guarded = requiring(keys, Scope.REPORTS_READ, decisions)
    return [Route("/v1/campaigns/{campaign_id}/decisions", guarded)]
