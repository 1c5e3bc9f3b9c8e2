"""Types used by several bounded contexts' events."""

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any

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


# Where pydantic's error locations start outside the model: the HTTP request's parts, the
# consumed message's body and the CloudEvent envelope's ``data``.
CONTAINER_PARTS = frozenset({"body", "header", "path", "query", "event", "data"})


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic's errors (``ValidationError.errors()``) as dotted fields of the model the
    client wrote: ``amount``, ``attribution.channel``, ``budget.amount``, a header's name."""
    found = []
    for item in errors:
        path = [str(part) for part in item["loc"]]
        while len(path) > 1 and path[0] in CONTAINER_PARTS:
            path = path[1:]
        if path and path[0] in CONTAINER_PARTS:
            path = []  # the whole body or message was wrong, not one of its fields
        message = str(item["msg"]).removeprefix("Value error, ")
        found.append(FieldError(field=".".join(path) or "(message)", message=message))
    return found
