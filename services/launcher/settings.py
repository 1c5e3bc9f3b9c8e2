"""Launcher configuration: what paid impressions cost."""

from decimal import Decimal

from pydantic import Field, field_validator

from shared.events.common import Channel
from shared.settings import ServiceSettings

PAID_CHANNELS = ("social", "web")


class LauncherSettings(ServiceSettings):
    launcher_health_port: int = Field(default=8013, ge=1, le=65535)
    launcher_cpm: dict[str, Decimal] = Field(
        default={"social": Decimal("9"), "web": Decimal("6")},
        description="Cost per thousand impressions of each paid channel, in budget currency.",
    )

    @field_validator("launcher_cpm")
    @classmethod
    def _every_paid_channel_priced(cls, cpm: dict[str, Decimal]) -> dict[str, Decimal]:
        unknown = sorted(set(cpm) - {channel.value for channel in Channel})
        if unknown:
            raise ValueError(f"unknown channel {', '.join(unknown)}")
        missing = [channel for channel in PAID_CHANNELS if channel not in cpm]
        if missing:
            raise ValueError(f"needs a CPM for {', '.join(missing)}")
        if any(cost <= 0 for cost in cpm.values()):
            raise ValueError("every CPM must be greater than 0")
        return cpm
