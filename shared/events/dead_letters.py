"""What a dead-letter topic (``<topic>.dlq``) carries: the original message and why it failed.

Fields added since the first version are optional, so older letters still read.
"""

from pydantic import AwareDatetime, BaseModel, Field

from shared.events.common import FieldError


class DeadLetterError(BaseModel):
    type: str = Field(examples=["ValidationError"])
    message: str
    errors: list[FieldError] = Field(
        default_factory=list, description="Field-level errors when the message was invalid."
    )


class DeadLetter(BaseModel):
    topic: str = Field(description="Where the message was read from.")
    partition: int
    offset: int
    key: str | None
    consumer_group: str
    attempts: int = Field(
        description="How many times the handler failed on the message (0: it never ran, as "
        "for an undecodable header); runs that met an outage are not counted."
    )
    failed_at: AwareDatetime
    error: DeadLetterError
    original: str = Field(description="The message value as received, to inspect or replay.")
    original_trimmed: bool = Field(
        default=False,
        description="True when `original` was cut to fit the broker's size limit: it can be "
        "inspected but not replayed.",
    )
    original_size: int | None = Field(
        default=None,
        description="The size in bytes of the message value as received, when trimmed.",
        examples=[2_000_000],
    )
