"""Composition root of the launcher."""

from services.launcher.handlers import register
from services.launcher.repository import LauncherTransaction
from services.launcher.settings import LauncherSettings
from shared.events.common import Channel
from shared.runtime import Infrastructure, Service, health_app

NAME = "launcher"


def build(settings: LauncherSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    cpm = {Channel(channel): cost for channel, cost in settings.launcher_cpm.items()}
    register(infra, infra.uow.bound(LauncherTransaction), cpm)
    infra.finish()
    return Service(infra=infra, http_app=health_app(infra), http_port=settings.launcher_health_port)
