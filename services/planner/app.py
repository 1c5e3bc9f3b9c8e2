"""Composition root of the planner."""

from datetime import timedelta

from services.planner.domain import ChannelModel, PlanningPolicy
from services.planner.handlers import register
from services.planner.repository import Rejections, campaign_plans
from services.planner.settings import PlannerSettings
from shared.events.common import Channel
from shared.runtime import Infrastructure, Service, health_app

NAME = "planner"


def planning_policy(settings: PlannerSettings) -> PlanningPolicy:
    return PlanningPolicy(
        channels={
            channel: ChannelModel(
                weight=settings.planner_channel_weights[channel.value],
                cpm=settings.planner_cpm[channel.value],
                conversion_rate=settings.planner_conversion_rate[channel.value],
            )
            for channel in Channel
        },
        default_duration=timedelta(days=settings.planner_default_duration_days),
    )


def build(settings: PlannerSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    rejections = Rejections(infra.db)
    register(infra, campaign_plans(infra.db), rejections, planning_policy(settings))
    infra.finish()
    return Service(
        infra=infra,
        http_app=health_app(infra),
        http_port=settings.planner_health_port,
        on_startup=[rejections.ensure_indexes],
    )
