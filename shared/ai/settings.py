"""Settings for services with an AI step, and the choice of engine they imply.

A requested provider without its API key falls back to the offline engine; the reason is
returned so the composition root logs it once at start-up.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field, SecretStr

from shared.ai.anthropic_model import AnthropicModel
from shared.ai.costs import DEFAULT_PRICES, ModelPrice, PriceTable
from shared.ai.openai_model import OpenAiModel
from shared.ai.provider import StructuredModel
from shared.settings import ReportingSettings

log = logging.getLogger(__name__)

type Engine = Literal["openai", "anthropic", "offline"]


class AiSettings(ReportingSettings):
    """A service with an AI step; its decision log is a reporting read (ANALYTICS_API_KEY)."""

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = Field(
        default=None, description="An OpenAI-compatible server or gateway."
    )
    openai_model: str = Field(default="gpt-4.1", min_length=1)
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = Field(
        default=None, description="An Anthropic-compatible server or gateway."
    )
    anthropic_model: str = Field(default="claude-sonnet-4-6", min_length=1)
    ai_timeout_seconds: float = Field(
        default=20, gt=0, le=600, description="Budget for one AI step, re-asks included."
    )
    ai_prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: dict(DEFAULT_PRICES),
        description="Model name -> USD per million input and output tokens (JSON).",
    )

    def price_table(self) -> PriceTable:
        return PriceTable(self.ai_prices)


def choose_engine(requested: Engine, settings: AiSettings) -> tuple[Engine, str | None]:
    """The engine to use and, when it is not the one requested, why."""
    if requested == "openai" and settings.openai_api_key is None:
        return "offline", "OPENAI_API_KEY is not set"
    if requested == "anthropic" and settings.anthropic_api_key is None:
        return "offline", "ANTHROPIC_API_KEY is not set"
    return requested, None


def build_model(engine: Engine, settings: AiSettings) -> StructuredModel | None:
    """The provider for ``engine``; ``None`` for offline (or a provider without a key)."""
    if engine == "openai" and settings.openai_api_key is not None:
        return OpenAiModel(
            api_key=settings.openai_api_key.get_secret_value(),
            model=settings.openai_model,
            base_url=settings.openai_base_url,
            timeout_seconds=settings.ai_timeout_seconds,
        )
    if engine == "anthropic" and settings.anthropic_api_key is not None:
        return AnthropicModel(
            api_key=settings.anthropic_api_key.get_secret_value(),
            model=settings.anthropic_model,
            base_url=settings.anthropic_base_url,
            timeout_seconds=settings.ai_timeout_seconds,
        )
    return None


def configured_model(step: str, requested: Engine, settings: AiSettings) -> StructuredModel | None:
    """The model a service's AI step uses, ``None`` for offline; the choice is logged once."""
    engine, reason = choose_engine(requested, settings)
    model = build_model(engine, settings)
    if reason is not None:
        log.warning("%s engine: %s requested, offline used: %s", step, requested, reason)
    else:
        log.info("%s engine: %s", step, model.engine if model else "offline")
    return model
