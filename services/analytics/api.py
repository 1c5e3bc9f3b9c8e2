"""The analytics HTTP API: a campaign's report, its decision log and an optimisation cycle
on demand (``reports:read``), and its performance published on demand (``events:write``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path
from pydantic import BaseModel, Field

from services.analytics.optimiser import Optimiser
from services.analytics.performance import PerformanceReporter
from services.analytics.report import CampaignReport, CampaignReports
from shared.ai.decisions import DecisionLog, decision_routes
from shared.api_keys.fastapi_dependency import requires
from shared.api_keys.keyring import ApiKeys
from shared.api_keys.keys import Scope
from shared.events.optimisation import CampaignEvaluated
from shared.runtime import Infrastructure, health_routes

CampaignIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", examples=["spring-sale"])
]


class PerformanceAccepted(BaseModel):
    campaign_id: str
    event_id: str = Field(description="The campaign.performance event's id.")


def unknown_campaign(campaign_id: str) -> HTTPException:
    return HTTPException(
        status_code=404,
        detail=f"campaign {campaign_id!r} is unknown to analytics: "
        "no plan, segments, launch, engagement or payment has named it yet",
    )


def build_api(
    infra: Infrastructure,
    reports: CampaignReports,
    reporter: PerformanceReporter,
    optimiser: Optimiser,
    decisions: DecisionLog,
    keys: ApiKeys,
) -> FastAPI:
    api = FastAPI(
        title="Analytics",
        version="1",
        description="Campaign reports. Every /v1 call needs a bearer API key holding the "
        "route's scope: ANALYTICS_API_KEY, or one from API_KEYS_FILE.",
        routes=[*health_routes(infra), *decision_routes(decisions, keys)],
    )
    denied: dict[int | str, dict[str, Any]] = {
        401: {"description": "No API key, or one that is not ours."},
        403: {"description": "The key lacks the route's scope."},
    }

    @api.get(
        "/v1/campaigns/{campaign_id}/report",
        responses={404: {"description": "Unknown"}, **denied},
        dependencies=[requires(keys, Scope.REPORTS_READ)],
    )
    async def report(campaign_id: CampaignIdPath) -> CampaignReport:
        found = await reports.report(campaign_id)
        if found is None:
            raise unknown_campaign(campaign_id)
        return found

    @api.post(
        "/v1/campaigns/{campaign_id}/performance",
        status_code=202,
        responses={404: {"description": "Unknown"}, **denied},
        dependencies=[requires(keys, Scope.EVENTS_WRITE)],
    )
    async def publish_performance(campaign_id: CampaignIdPath) -> PerformanceAccepted:
        event = await reporter.report(campaign_id)
        if event is None:
            raise unknown_campaign(campaign_id)
        return PerformanceAccepted(campaign_id=campaign_id, event_id=event.id)

    @api.post(
        "/v1/campaigns/{campaign_id}/evaluate",
        responses={404: {"description": "Unknown"}, **denied},
        dependencies=[requires(keys, Scope.REPORTS_READ)],
    )
    async def evaluate(campaign_id: CampaignIdPath) -> CampaignEvaluated:
        """Run an optimisation cycle for the campaign now, live or not, and answer with the
        campaign.evaluated it emitted."""
        evaluated = await optimiser.evaluate(campaign_id)
        if evaluated is None:
            raise unknown_campaign(campaign_id)
        return evaluated

    return api
