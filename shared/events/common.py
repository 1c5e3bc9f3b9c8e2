"""Types used by several bounded contexts' events."""

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

CampaignId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
    Field(
        description="Client-chosen: 1-64 characters of letters, digits, '_' and '-'.",
        examples=["spring-sale-2026"],
    ),
]


class Channel(StrEnum):
    EMAIL = "email"
    SOCIAL = "social"
    WEB = "web"


class Contract(BaseModel):
    """Base of every event's ``data``: consumers ignore fields they do not know."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class FieldError(Contract):
    field: str = Field(
        description="Dotted path of the offending field.", examples=["budget.amount"]
    )
    message: str = Field(examples=["Input should be greater than 0"])
