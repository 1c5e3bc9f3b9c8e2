"""Planner configuration: the planning engine, channel economics and scheduling defaults."""

from decimal import Decimal
from typing import Self

from pydantic import Field, model_validator

from shared.ai.settings import AiSettings, Engine
from shared.events.common import Channel


class PlannerSettings(AiSettings):
    planner_health_port: int = Field(default=8010, ge=1, le=65535)
    planner_engine: Engine = Field(
        default="openai",
        description="openai, anthropic or offline; a provider without its API key is offline.",
    )
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
    # Response curves and allocation (see services/planner/response_curves.py).
    planner_saturation_spend: dict[str, Decimal] = Field(
        default={"email": Decimal("20000"), "social": Decimal("40000"), "web": Decimal("30000")},
        description="Spend at which a channel earns 63% of its revenue ceiling, per channel.",
    )
    planner_min_share: Decimal = Field(
        default=Decimal("0.10"),
        ge=0,
        le=1,
        description="Least share of the budget per channel at planning, and of the remaining "
        "budget per live channel at each reallocation.",
    )
    planner_max_share: Decimal = Field(default=Decimal("0.70"), ge=0, le=1)
    planner_max_shift: Decimal = Field(
        default=Decimal("0.20"),
        ge=0,
        le=1,
        description="Most share of the remaining budget a reallocation moves per cycle.",
    )
    planner_min_observations: int = Field(
        default=3, ge=1, description="Past campaigns a channel needs before its curve is refitted."
    )
    planner_min_engagements: int = Field(
        default=100,
        ge=1,
        description="Customers with a known engagement hour before email send windows follow them.",
    )

    @model_validator(mode="after")
    def _every_channel_modelled(self) -> Self:
        tables = {
            "PLANNER_CHANNEL_WEIGHTS": self.planner_channel_weights,
            "PLANNER_CPM": self.planner_cpm,
            "PLANNER_CONVERSION_RATE": self.planner_conversion_rate,
            "PLANNER_SATURATION_SPEND": self.planner_saturation_spend,
        }
        for variable, table in tables.items():
            missing = {c.value for c in Channel} - set(table)
            if missing:
                raise ValueError(f"{variable} needs a value for {', '.join(sorted(missing))}")
            if any(value <= 0 for value in table.values()):
                raise ValueError(f"{variable} values must be greater than 0")
        return self

    @model_validator(mode="after")
    def _share_limits_feasible(self) -> Self:
        # Every subset of two or more channels must be able to split a budget within the limits.
        if self.planner_min_share > self.planner_max_share:
            raise ValueError("PLANNER_MIN_SHARE must not exceed PLANNER_MAX_SHARE")
        if self.planner_min_share * len(Channel) > 1:
            raise ValueError(f"PLANNER_MIN_SHARE must be at most 1/{len(Channel)}")
        if self.planner_max_share * 2 < 1:
            raise ValueError("PLANNER_MAX_SHARE must be at least 0.5 so two channels can split")
        return self
