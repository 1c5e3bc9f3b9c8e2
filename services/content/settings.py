"""Content configuration: where the tracking links land."""

from pydantic import Field

from shared.settings import ServiceSettings


class ContentSettings(ServiceSettings):
    content_health_port: int = Field(default=8012, ge=1, le=65535)
    content_landing_base_url: str = Field(
        default="https://shop.example.com",
        pattern=r"^https?://[^\s?#]+$",
        description="The shop's product pages live at <base>/p/<sku>.",
    )
