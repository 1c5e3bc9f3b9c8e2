"""Content configuration: the writing engine, where the links land, the sender's legal
footer, banned claims."""

from typing import Self

from pydantic import Field, model_validator

from shared.ai.settings import AiSettings, Engine
from shared.guardrails import DEFAULT_BANNED_CLAIMS

# Development only: a CAN-SPAM footer needs the sender's real postal address.
EXAMPLE_POSTAL_ADDRESS = "EXAMPLE ADDRESS - Example Shop, 100 Example Street, Springfield, USA"


class ContentSettings(AiSettings):
    content_health_port: int = Field(default=8012, ge=1, le=65535)
    content_engine: Engine = Field(
        default="openai",
        description="openai, anthropic or offline; a provider without its API key is offline.",
    )
    content_landing_base_url: str = Field(
        default="https://shop.example.com",
        pattern=r"^https?://[^\s?#]+$",
        description="The shop's product pages live at <base>/p/<sku>.",
    )
    content_sender_postal_address: str = Field(
        default=EXAMPLE_POSTAL_ADDRESS,
        min_length=10,
        description="The sender's physical postal address, printed in every email.",
    )
    content_banned_claims: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BANNED_CLAIMS),
        description="Claims no content may make (JSON list; whole words, any case).",
    )

    @model_validator(mode="after")
    def _real_address_outside_local(self) -> Self:
        if self.environment != "local" and self.content_sender_postal_address.startswith("EXAMPLE"):
            raise ValueError("CONTENT_SENDER_POSTAL_ADDRESS must be set outside local mode")
        return self
