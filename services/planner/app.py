"""Composition root of the planner."""

from datetime import timedelta

from services.planner.allocation import ShareLimits
from services.planner.domain import PlanningPolicy
from services.planner.engines.offline import OfflinePlanner
from services.planner.handlers import register
from services.planner.repository import Observations, Rejections, campaign_plans
from services.planner.response_curves import default_curve
from services.planner.settings import PlannerSettings
from shared.events.common import Channel
from shared.runtime import Infrastructure, Service, health_app

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
    )


def build(settings: PlannerSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    rejections = Rejections(infra.db)
    observations = Observations(infra.db)
    engine = OfflinePlanner(planning_policy(settings))
    register(infra, campaign_plans(infra.db), rejections, observations, engine)
    infra.finish()
    return Service(
        infra=infra,
        http_app=health_app(infra),
        http_port=settings.planner_health_port,
        on_startup=[rejections.ensure_indexes],
    )
