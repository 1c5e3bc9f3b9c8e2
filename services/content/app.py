"""Composition root of the content service."""

from services.content.handlers import register
from services.content.repository import ContentBriefs, generated_content
from services.content.settings import ContentSettings
from shared.runtime import Infrastructure, Service, health_app

NAME = "content"


def build(settings: ContentSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    register(
        infra,
        ContentBriefs(infra.db),
        generated_content(infra.db),
        settings.content_landing_base_url,
    )
    infra.finish()
    return Service(infra=infra, http_app=health_app(infra), http_port=settings.content_health_port)
