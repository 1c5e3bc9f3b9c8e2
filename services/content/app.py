"""Composition root of the content service."""

from starlette.applications import Starlette

from services.content.domain import Sender
from services.content.engines.llm import LlmWriter
from services.content.handlers import register
from services.content.repository import ContentTransaction, generated_content
from services.content.settings import ContentSettings
from shared.ai.decisions import DecisionLog, decision_routes
from shared.ai.settings import configured_model
from shared.api_keys.keyring import reporting_reads
from shared.runtime import Infrastructure, Service, health_routes

NAME = "content"


def build(settings: ContentSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    decisions = DecisionLog(infra.db)
    sender = Sender(
        landing_base_url=settings.content_landing_base_url,
        postal_address=settings.content_sender_postal_address,
        banned_claims=tuple(settings.content_banned_claims),
    )
    writer = LlmWriter(
        sender,
        configured_model(NAME, settings.content_engine, settings),
        settings.price_table(),
        budget_seconds=settings.ai_timeout_seconds,
    )
    uow = infra.uow.bound(ContentTransaction)
    register(infra, uow, generated_content(infra.db), writer)
    infra.finish()
    return Service(
        infra=infra,
        http_app=Starlette(
            routes=[*health_routes(infra), *decision_routes(decisions, reporting_reads(settings))]
        ),
        http_port=settings.content_health_port,
        on_startup=[decisions.ensure_indexes],
    )
