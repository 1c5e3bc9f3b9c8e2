"""Composition root of the planner."""

from datetime import timedelta

from starlette.applications import Starlette

from services.planner.allocation import ShareLimits
from services.planner.domain import PlanningPolicy
from services.planner.engines.llm import LlmPlanner
from services.planner.engines.rationale import RationaleWriter
from services.planner.handlers import register
from services.planner.reallocating import Reallocator
from services.planner.reallocation import ReallocationRules
from services.planner.repository import (
    Audiences,
    CurrentAllocations,
    Observations,
    PlannerTransaction,
    Rejections,
    campaign_plans,
)
from services.planner.response_curves import default_curve
from services.planner.settings import PlannerSettings
from shared.ai.decisions import DecisionLog, decision_routes
from shared.ai.settings import configured_model
from shared.api_keys.keyring import reporting_reads
from shared.events.common import Channel
from shared.runtime import Infrastructure, Service, health_routes

NAME = "planner"


def planning_policy(settings: PlannerSettings) -> PlanningPolicy:
    return PlanningPolicy(
        curves={
            channel: default_curve(
                cpm=settings.planner_cpm[channel.value],
                conversion_rate=settings.planner_conversion_rate[channel.value],
                saturation_spend=settings.planner_saturation_spend[channel.value],
            )
            for channel in Channel
        },
        limits=ShareLimits(minimum=settings.planner_min_share, maximum=settings.planner_max_share),
        min_observations=settings.planner_min_observations,
        default_duration=timedelta(days=settings.planner_default_duration_days),
        min_engagements=settings.planner_min_engagements,
    )


def build(settings: PlannerSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    rejections = Rejections(infra.db)
    observations = Observations(infra.db)
    decisions = DecisionLog(infra.db)
    policy = planning_policy(settings)
    model = configured_model("planner", settings.planner_engine, settings)
    engine = LlmPlanner(
        policy, model, settings.price_table(), budget_seconds=settings.ai_timeout_seconds
    )
    audiences = Audiences(infra.db)
    uow = infra.uow.bound(PlannerTransaction)
    plans = campaign_plans(infra.db)
    reallocator = Reallocator(
        uow,
        plans,
        CurrentAllocations(infra.db),
        observations,
        audiences,
        policy,
        ReallocationRules(
            max_shift=settings.planner_max_shift, min_share=settings.planner_min_share
        ),
        RationaleWriter(model, settings.price_table(), settings.ai_timeout_seconds),
    )
    register(infra, uow, plans, observations, audiences, engine, reallocator)
    infra.finish()
    return Service(
        infra=infra,
        http_app=Starlette(
            routes=[*health_routes(infra), *decision_routes(decisions, reporting_reads(settings))]
        ),
        http_port=settings.planner_health_port,
        on_startup=[rejections.ensure_indexes, decisions.ensure_indexes],
    )
