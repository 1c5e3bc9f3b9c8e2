"""A recipient as the launcher knows them: what it takes to send them email, as of when."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict


class Recipient(BaseModel):
    model_config = ConfigDict(frozen=True)

    customer_id: str
    email: str
    first_name: str | None
    email_opt_in: bool
    country: str
    timezone: str | None
    as_of: AwareDatetime
