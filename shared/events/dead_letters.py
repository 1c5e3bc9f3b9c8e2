"""What a dead-letter topic (``<topic>.dlq``) carries: the original message and why it failed."""

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
    attempts: int = Field(description="How many times the handler ran before giving up.")
    failed_at: AwareDatetime
    error: DeadLetterError
    original: str = Field(description="The message value as received, to inspect or replay.")
