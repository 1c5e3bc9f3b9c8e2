"""A person's journey through one campaign: what was sent to them, what they clicked,
whether they were held out, and what they paid.

One journey per campaign x person. A person is a customer or, for an ad click no payment
has named yet, the click itself: the ad exchange knows no customer, so the click waits in a
journey of its own until a payment names it and moves it into the payer's journey.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events.common import Channel
from shared.events.engagement import LinkClicked, MessageSent
from shared.events.payments import Attribution


class TouchKind(StrEnum):
    SENT = "sent"
    CLICKED = "clicked"


# At the same instant a click comes after the send it followed.
_ORDER = {TouchKind.SENT: 0, TouchKind.CLICKED: 1}


class Touch(BaseModel):
    """A send or a click, with what it carried: campaign, segment, channel and variant."""

    model_config = ConfigDict(frozen=True)

    kind: TouchKind
    key: str = Field(description="The message id of a send, the click id of a click.")
    campaign_id: str
    segment_id: str
    channel: Channel
    variant_id: str
    at: AwareDatetime
    customer_id: str | None = Field(default=None, description="None for an unclaimed ad click.")
    source: Literal["email", "ad"] = "email"

    @classmethod
    def sent(cls, message: MessageSent) -> Touch:
        return cls(
            kind=TouchKind.SENT,
            key=message.message_id,
            campaign_id=message.campaign_id,
            segment_id=message.segment_id,
            channel=message.channel,
            variant_id=message.variant_id,
            at=message.at,
            customer_id=message.customer_id,
        )

    @classmethod
    def clicked(cls, click: LinkClicked) -> Touch:
        return cls(
            kind=TouchKind.CLICKED,
            key=click.click_id,
            campaign_id=click.campaign_id,
            segment_id=click.segment_id,
            channel=click.channel,
            variant_id=click.variant_id,
            at=click.at,
            customer_id=click.customer_id,
            source=click.source,
        )

    @property
    def click_id(self) -> str | None:
        return self.key if self.kind is TouchKind.CLICKED else None

    @property
    def attribution(self) -> Attribution:
        return Attribution(
            segment_id=self.segment_id, channel=self.channel, variant_id=self.variant_id
        )

    def claimed_by(self, customer_id: str) -> Touch:
        return self.model_copy(update={"customer_id": customer_id})

    def sort_key(self) -> tuple[datetime, int, str]:
        return (self.at, _ORDER[self.kind], self.key)


class Paid(BaseModel):
    """A completed payment crediting the campaign, attributed or not (lift counts both)."""

    model_config = ConfigDict(frozen=True)

    payment_id: str
    at: AwareDatetime
    attributed: bool


def customer_person(customer_id: str) -> str:
    return f"customer:{customer_id}"


def ad_click_person(click_id: str) -> str:
    return f"ad-click:{click_id}"


class Journey(BaseModel):
    """Touches oldest first; a touch or a payment announced twice is kept once."""

    campaign_id: str
    person: str = Field(description="customer:<id>, or ad-click:<click id> until claimed.")
    customer_id: str | None = None
    touches: list[Touch] = Field(default_factory=list)
    hard_bounced_at: AwareDatetime | None = None
    held_out_at: AwareDatetime | None = None
    held_out_segment_id: str | None = None
    payments: list[Paid] = Field(default_factory=list)

    @classmethod
    def of_customer(cls, campaign_id: str, customer_id: str) -> Journey:
        return cls(
            campaign_id=campaign_id, person=customer_person(customer_id), customer_id=customer_id
        )

    @classmethod
    def of_ad_click(cls, click: Touch) -> Journey:
        return cls(campaign_id=click.campaign_id, person=ad_click_person(click.key))

    @property
    def id(self) -> str:
        return f"{self.campaign_id}|{self.person}"

    def touch(self, touch: Touch) -> bool:
        """Add ``touch``; False when it was already here."""
        if any(t.key == touch.key and t.kind is touch.kind for t in self.touches):
            return False
        self.touches = sorted([*self.touches, touch], key=Touch.sort_key)
        return True

    def bounce(self, *, hard: bool, at: datetime) -> None:
        """A soft bounce is tried again by the launcher, so only a hard one stays."""
        if hard and (self.hard_bounced_at is None or at < self.hard_bounced_at):
            self.hard_bounced_at = at

    def hold_out(self, segment_id: str, at: datetime) -> None:
        self.held_out_at, self.held_out_segment_id = at, segment_id

    def pay(self, payment_id: str, at: datetime, *, attributed: bool) -> None:
        if all(p.payment_id != payment_id for p in self.payments):
            paid = Paid(payment_id=payment_id, at=at, attributed=attributed)
            self.payments = [*self.payments, paid]

    @property
    def first_send(self) -> Touch | None:
        return next((t for t in self.touches if t.kind is TouchKind.SENT), None)

    @property
    def emailed(self) -> bool:
        """Sent an email: accepted by the recipient's server, or refused by it for good."""
        return self.first_send is not None or self.hard_bounced_at is not None

    @property
    def delivered(self) -> bool:
        return self.first_send is not None and self.hard_bounced_at is None

    @property
    def treated_at(self) -> datetime | None:
        send = self.first_send
        return send.at if send else self.hard_bounced_at

    @property
    def converted(self) -> bool:
        return any(p.attributed for p in self.payments)
