"""What a model call costs, from a configurable price table (US dollars, Decimal only).

Defaults are the providers' list prices per million tokens for the default models
(``gpt-4.1``, ``claude-sonnet-4-6``) and a few neighbours, as published when written; a
price change, a gateway or a negotiated rate is configured through ``AI_PRICES``. A model
missing from the table costs nothing, with one warning, so a renamed model never stops the
pipeline.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from pydantic import BaseModel, Field

from shared.ai.provider import Usage

log = logging.getLogger(__name__)

MILLION = Decimal(1_000_000)


class ModelPrice(BaseModel):
    model_config = {"frozen": True}

    input_per_million: Decimal = Field(ge=0, description="USD per million input tokens.")
    output_per_million: Decimal = Field(ge=0, description="USD per million output tokens.")


DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-4.1": ModelPrice(input_per_million=Decimal("2.00"), output_per_million=Decimal("8.00")),
    "gpt-4.1-mini": ModelPrice(
        input_per_million=Decimal("0.40"), output_per_million=Decimal("1.60")
    ),
    "gpt-4o": ModelPrice(input_per_million=Decimal("2.50"), output_per_million=Decimal("10.00")),
    "claude-sonnet-4-6": ModelPrice(
        input_per_million=Decimal("3.00"), output_per_million=Decimal("15.00")
    ),
    "claude-sonnet-4-5": ModelPrice(
        input_per_million=Decimal("3.00"), output_per_million=Decimal("15.00")
    ),
    "claude-haiku-4-5": ModelPrice(
        input_per_million=Decimal("1.00"), output_per_million=Decimal("5.00")
    ),
}


class PriceTable:
    def __init__(self, prices: dict[str, ModelPrice]) -> None:
        self._prices = prices
        self._warned: set[str] = set()

    def cost(self, model: str, usage: Usage) -> Decimal:
        price = self._prices.get(model)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                log.warning("no price for model %r in AI_PRICES; its calls count as 0", model)
            return Decimal(0)
        return (
            usage.input_tokens * price.input_per_million
            + usage.output_tokens * price.output_per_million
        ) / MILLION
