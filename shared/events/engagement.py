"""Engagement events: what the launcher sent, to whom, and what came back.

Every touch names the campaign, the segment, the channel and the content variant, so that
a sale can be traced to what earned it. An email touch names its recipient; an ad click
names no one (the ad exchange knows no customer), only its click id, which the storefront
passes back with the payment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, NonNegativeInt

from shared.events.common import CampaignId, Channel, Contract
from shared.money import Money


class Touch(Contract):
    """What every touch carries."""

    campaign_id: CampaignId
    segment_id: str = Field(examples=["high_value"])
    channel: Channel
    variant_id: str = Field(examples=["high_value-email-a"])
    at: AwareDatetime


class MessageSent(Touch):
    """An email the recipient's mail server accepted."""

    customer_id: str
    message_id: str = Field(description="The email's Message-ID.", examples=["<abc@shop>"])


class MessageBounced(Contract):
    """An email the recipient's mail server refused: for good (hard) or for now (soft)."""

    campaign_id: CampaignId
    customer_id: str
    channel: Channel = Channel.EMAIL
    kind: Literal["hard", "soft"]
    reason: str = Field(examples=["550 5.1.1 mailbox unavailable"])
    at: AwareDatetime


class LinkClicked(Touch):
    """A tracked link followed: in an email (its recipient known) or on an ad (no one named)."""

    click_id: str = Field(
        description="Passed to the landing page as `cid`, and back with the payment."
    )
    customer_id: str | None = Field(default=None, description="None for an ad click.")
    source: Literal["email", "ad"]
    ad_set_id: str | None = None


class HeldOut(Contract):
    """A customer the campaign would have reached, kept out on purpose to measure its lift."""

    campaign_id: CampaignId
    customer_id: str
    segment_id: str
    at: AwareDatetime


class AdsReported(Contract):
    """An ad set's delivery so far, as the ad platform reports it: running totals."""

    campaign_id: CampaignId
    ad_set_id: str
    channel: Channel
    segment_id: str
    variant_id: str
    impressions: NonNegativeInt
    clicks: NonNegativeInt
    spend: Money
    budget: Money
    bid: Money | None = Field(
        default=None, description="The ad set's bid when reported; absent from older reports."
    )
    as_of: AwareDatetime
