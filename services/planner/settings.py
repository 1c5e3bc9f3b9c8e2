"""Planner configuration: channel economics and scheduling defaults."""

from decimal import Decimal

from pydantic import Field

from shared.settings import ServiceSettings


class PlannerSettings(ServiceSettings):
    planner_health_port: int = Field(default=8010, ge=1, le=65535)
    # Channel economics (documented defaults; see README "Planning model").
    planner_channel_weights: dict[str, Decimal] = Field(
        default={"email": Decimal("0.40"), "social": Decimal("0.35"), "web": Decimal("0.25")}
    )
    planner_cpm: dict[str, Decimal] = Field(
        default={"email": Decimal("30"), "social": Decimal("9"), "web": Decimal("6")},
        description="Cost per thousand people reached, per channel.",
    )
    planner_conversion_rate: dict[str, Decimal] = Field(
        default={
            "email": Decimal("0.0010"),
            "social": Decimal("0.0002"),
            "web": Decimal("0.00012"),
        },
        description="Purchases per person reached, per channel.",
    )
    planner_default_duration_days: int = Field(default=14, ge=1, le=365)
