"""The CloudEvents 1.0 envelope (structured JSON mode) every message travels in.

A typed generic rather than the ``cloudevents`` SDK's untyped event: the ``data`` model
gives validation at the edge and a full schema in each service's AsyncAPI document.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    return str(uuid.uuid4())


class CloudEvent[DataT](BaseModel):
    """A CloudEvents 1.0 event. ``correlationid`` is the campaign id, end to end;
    ``traceparent`` / ``tracestate`` continue the emitting work's trace in the consumer."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(
        default_factory=new_event_id,
        min_length=1,
        description="Unique per event; consumers deduplicate on it.",
        examples=["0b7f5c1e-7f0e-4c38-9a57-5e1f4c1d2a10"],
    )
    source: str = Field(
        min_length=1,
        description="'/services/<name>' for events from this system, the client's URI otherwise.",
        examples=["/services/planner"],
    )
    type: str = Field(description="Equal to the topic name.", examples=["campaign.planned"])
    time: AwareDatetime = Field(default_factory=utc_now, description="RFC 3339, UTC.")
    subject: str | None = Field(default=None, description="The campaign id.")
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str | None = Field(
        default=None,
        description="The campaign id; carried unchanged by every event the campaign causes.",
    )
    causationid: str | None = Field(
        default=None, description="The id of the event that caused this one; absent on requests."
    )
    traceparent: str | None = Field(
        default=None,
        description=(
            "W3C trace context of the work that emitted the event (CloudEvents "
            "distributed-tracing extension); absent when it was not traced."
        ),
        examples=["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    )
    tracestate: str | None = Field(
        default=None, description="W3C vendor trace state travelling with traceparent."
    )
    data: DataT


def event_to_json(event: CloudEvent[Any]) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()
