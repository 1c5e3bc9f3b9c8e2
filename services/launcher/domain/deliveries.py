"""A delivery: one campaign's decision for one customer on one channel, and what came of it.

Every member of a campaign's audience gets exactly one delivery per channel it is sent on,
keyed campaign x customer x channel: sent nothing (``skipped`` with its reason, or
``held_out``), ``queued`` for a later wave (a send time but no variant yet: see ``waves``),
or a message ``scheduled`` for a time, then ``sending`` (written before the
SMTP transaction opens), then ``sent``, ``bounced`` (hard: refused for good), ``deferred``
(soft: tried again later) or ``unknown`` (the process stopped mid-transaction: it may or
may not have arrived, and it is never sent again).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events.common import Channel


class DeliveryStatus(StrEnum):
    SKIPPED = "skipped"
    HELD_OUT = "held_out"
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    UNKNOWN = "unknown"


class SkipReason(StrEnum):
    NO_CONSENT = "no_consent"
    NO_ADDRESS = "no_address"
    SUPPRESSED = "suppressed"
    FREQUENCY_CAPPED = "frequency_capped"
    NO_SEND_WINDOW = "no_send_window"  # no window in the recipient's time before the end
    NO_CONTENT = "no_content"  # no variant of their segment survived the guardrails
    CAMPAIGN_ENDED = "campaign_ended"  # their wave was not released before the campaign ended


# What counts against a customer's frequency cap: whatever was or may have been sent.
COUNTS_AS_CONTACT = frozenset(
    {
        DeliveryStatus.QUEUED,
        DeliveryStatus.SCHEDULED,
        DeliveryStatus.SENDING,
        DeliveryStatus.SENT,
        DeliveryStatus.DEFERRED,
        DeliveryStatus.UNKNOWN,
    }
)
# Waiting to be sent: the dispatcher's work (a queued delivery waits for its wave first).
WAITING = frozenset({DeliveryStatus.SCHEDULED, DeliveryStatus.DEFERRED})


def delivery_id(campaign_id: str, customer_id: str, channel: Channel) -> str:
    return f"{campaign_id}/{channel.value}/{customer_id}"


class Delivery(BaseModel):
    """The stored delivery (``_id`` = ``delivery_id``)."""

    model_config = ConfigDict(frozen=True)

    campaign_id: str
    customer_id: str
    channel: Channel
    segment_id: str
    variant_id: str | None = Field(description="None when sent nothing, or queued.")
    status: DeliveryStatus
    skip_reason: SkipReason | None = None
    send_at: AwareDatetime | None = Field(
        default=None, description="When it is due (scheduled) or tried again (deferred)."
    )
    attempts: int = 0
    message_id: str | None = None
    last_reply: str | None = Field(default=None, description="The SMTP server's last reply.")
    wave: int | None = Field(default=None, description="The email wave it goes in.")
    zone: str | None = Field(
        default=None,
        description="The recipient's time zone: a queued send time is "
        "recomputed in it when the wave is released late.",
    )
    decided_at: AwareDatetime
    updated_at: AwareDatetime

    @property
    def id(self) -> str:
        return delivery_id(self.campaign_id, self.customer_id, self.channel)

    def is_due(self, now: datetime) -> bool:
        return self.status in WAITING and self.send_at is not None and self.send_at <= now
