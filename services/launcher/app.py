"""Composition root of the launcher."""

from services.launcher.handlers import register
from services.launcher.settings import LauncherSettings
from services.launcher.storage.customers import CustomerProjection
from services.launcher.storage.transaction import LauncherTransaction
from shared.runtime import Infrastructure, Service, health_app

NAME = "launcher"


def build(settings: LauncherSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    uow = infra.uow.bound(LauncherTransaction)
    register(infra, uow, CustomerProjection(infra.db), launch_ready=lambda: None)
    infra.finish()
    return Service(infra=infra, http_app=health_app(infra), http_port=settings.launcher_api_port)
