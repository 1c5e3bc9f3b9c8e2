"""Composition root of the content service."""

from services.content.domain import Sender
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
        Sender(
            landing_base_url=settings.content_landing_base_url,
            unsubscribe_base_url=settings.content_unsubscribe_url,
            postal_address=settings.content_sender_postal_address,
            banned_claims=tuple(settings.content_banned_claims),
        ),
    )
    infra.finish()
    return Service(infra=infra, http_app=health_app(infra), http_port=settings.content_health_port)
