"""Planner entrypoints: campaign.requested in, campaign.planned or campaign.rejected out;
campaign.performance in, to learn the channels' response curves; campaign.evaluated in,
campaign.reallocated out."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from services.planner import domain
from services.planner.engines.llm import STEP, LlmPlanner
from services.planner.reallocating import Reallocator
from services.planner.repository import Audiences, Observations, PlannerTransaction
from shared.ai.runner import Decision
from shared.events.campaigns import (
    CampaignPerformance,
    CampaignPlanned,
    CampaignRejected,
    CampaignRequested,
    CampaignSegmented,
)
from shared.events.common import FieldError
from shared.events.envelope import CloudEvent
from shared.events.optimisation import CampaignEvaluated, CampaignReallocated
from shared.events.topics import (
    CAMPAIGN_EVALUATED,
    CAMPAIGN_PERFORMANCE,
    CAMPAIGN_PLANNED,
    CAMPAIGN_REALLOCATED,
    CAMPAIGN_REJECTED,
    CAMPAIGN_REQUESTED,
    CAMPAIGN_SEGMENTED,
)
from shared.runtime import Infrastructure
from shared.storage.once_per_campaign import OncePerCampaign
from shared.storage.unit_of_work import (
    AlreadyProcessedError,
    UnitOfWork,
    retry_on_write_conflict,
)


def register(
    infra: Infrastructure,
    uow: UnitOfWork[PlannerTransaction],
    plans: OncePerCampaign[CampaignPlanned],
    observations: Observations,
    audiences: Audiences,
    engine: LlmPlanner,
    reallocator: Reallocator,
) -> None:
    infra.publisher(
        CAMPAIGN_PLANNED, CloudEvent[CampaignPlanned], description="A request was planned."
    )
    infra.publisher(
        CAMPAIGN_REJECTED, CloudEvent[CampaignRejected], description="A request was invalid."
    )
    infra.publisher(
        CAMPAIGN_REALLOCATED,
        CloudEvent[CampaignReallocated],
        description="The remaining budget of a running campaign was re-planned.",
    )

    @infra.subscriber(CAMPAIGN_REQUESTED, description="Plan each new campaign request.")
    async def plan_campaign(event: CloudEvent[CampaignRequested]) -> None:
        request = event.data
        if await plans.exists(request.campaign_id):
            return  # a campaign id is accepted once; a repeat request is a no-op
        # Planned outside the transaction: a model call must never hold one open.
        history, audience = await observations.history(), await audiences.latest()
        plan, decision = await engine.plan(request, datetime.now(UTC), history, audience)
        await save_plan(event, plan, decision)

    @retry_on_write_conflict
    async def save_plan(
        event: CloudEvent[CampaignRequested], plan: CampaignPlanned, decision: Decision[Any]
    ) -> None:
        async with uow.consuming(event) as tx:
            if await tx.plans.exists(plan.campaign_id):
                return  # planned meanwhile by a redelivery of the same request
            await tx.plans.add(plan.campaign_id, plan)
            await tx.decisions.record(plan.campaign_id, STEP, decision)
            await tx.emit(CAMPAIGN_PLANNED, plan, key=plan.campaign_id, cause=event)

    @infra.subscriber(CAMPAIGN_SEGMENTED, description="Learn who an email can reach.")
    async def learn_audience(event: CloudEvent[CampaignSegmented]) -> None:
        audience = domain.email_audience(event.data)
        async with uow.consuming(event) as tx:
            await tx.audiences.record(audience, event.time)

    @infra.subscriber(CAMPAIGN_PERFORMANCE, description="Learn from each campaign's results.")
    async def learn_from_performance(event: CloudEvent[CampaignPerformance]) -> None:
        performance = event.data
        plan = await plans.get(performance.campaign_id)  # plans never change
        if plan is None:
            return  # not planned here: nothing to say what each channel was given
        learned = domain.channel_observations(plan, performance)
        async with uow.consuming(event) as tx:
            await tx.observations.record(plan.campaign_id, performance.as_of, learned)

    @infra.subscriber(CAMPAIGN_EVALUATED, description="Re-plan the budget that is left.")
    async def reallocate_budget(event: CloudEvent[CampaignEvaluated]) -> None:
        await reallocator.on_evaluated(event)

    async def reject_campaign(raw: bytes, errors: list[FieldError]) -> None:
        envelope = _lenient_json(raw)
        data = envelope.get("data")
        data = data if isinstance(data, dict) else {}
        campaign_id = str(data.get("campaign_id") or envelope.get("subject") or "")
        event_id = str(envelope.get("id") or f"unidentified:{hash(raw)}")
        source = str(envelope.get("source") or "unknown")
        rejection = CampaignRejected(campaign_id=campaign_id, errors=errors)
        with contextlib.suppress(AlreadyProcessedError):
            async with uow as tx:
                await tx.mark_processed(source, event_id)
                await tx.rejections.add(rejection, event_id)
                await tx.emit(
                    CAMPAIGN_REJECTED,
                    rejection,
                    key=campaign_id or "unknown",
                    causation_id=event_id,
                )

    infra.invalid_event_hooks[CAMPAIGN_REQUESTED] = reject_campaign


def _lenient_json(raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
