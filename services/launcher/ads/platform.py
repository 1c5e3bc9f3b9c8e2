"""The port to an ad platform: what the launcher buys on paid channels and reads back.

One ad set per segment x variant x channel, each with its own budget, bid, creative and
audience. Creating one is idempotent by its ``key``, which the adapter makes the ad set's
name: a retry after a lost answer finds the ad set it made instead of making a second
(the way Meta's API allows, since it takes no idempotency key). Every amount is ``Money``;
an adapter converts to the platform's minor units and back, never through a float.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from shared.events.common import Channel
from shared.money import Money


class BudgetKind(StrEnum):
    DAILY = "daily"
    LIFETIME = "lifetime"


@dataclass(frozen=True)
class Budget:
    """What an ad set may spend per day, or over its whole life (which needs an end)."""

    kind: BudgetKind
    amount: Money


@dataclass(frozen=True)
class Creative:
    headline: str
    body: str
    call_to_action: str | None
    landing_url: str


@dataclass(frozen=True)
class Audience:
    """Whom an ad set is shown to: the campaign's segment, as a custom audience."""

    segment_id: str
    name: str
    size: int


@dataclass(frozen=True)
class AdSetOrder:
    """An ad set to create. ``key`` names it uniquely within the ad account."""

    key: str
    campaign_id: str
    placement: Channel
    budget: Budget
    bid: Money  # the most it pays per thousand impressions
    creative: Creative
    audience: Audience
    starts_at: datetime | None = None
    ends_at: datetime | None = None


@dataclass(frozen=True)
class AdClick:
    click_id: str
    at: datetime
    landing_url: str  # the creative's, with the click id appended as ``cid``


@dataclass(frozen=True)
class DeliveryReport:
    """An ad set's delivery so far (running totals), and the clicks after a cursor.

    ``cursor`` is where the next read of clicks starts: the last click's position when
    there were clicks, else the cursor the read was given.
    """

    impressions: int
    clicks: int
    spend: Money
    new_clicks: Sequence[AdClick] = ()
    cursor: str | None = None


class AdPlatformError(Exception):
    """The platform refused or failed a call. ``transient``: the same call may succeed
    later (throttled, unavailable); otherwise it needs a change first."""

    def __init__(self, message: str, *, code: int | None = None, transient: bool = False):
        super().__init__(message)
        self.code = code
        self.transient = transient


class AdSetNotFoundError(AdPlatformError):
    """No ad set has that id in this account."""


class AdPlatform(Protocol):
    """An ad platform's account, as the launcher uses it."""

    async def create_ad_set(self, order: AdSetOrder) -> str:
        """The id of the ad set named ``order.key``: made now, or found when made before."""
        ...

    async def pause(self, ad_set_id: str) -> None:
        """Stop the ad set's delivery; pausing a paused ad set changes nothing."""
        ...

    async def change(
        self, ad_set_id: str, *, budget: Budget | None = None, bid: Money | None = None
    ) -> None:
        """Set a new budget, bid or both."""
        ...

    async def report(self, ad_set_id: str, *, clicks_after: str | None) -> DeliveryReport:
        """Totals so far and the clicks after ``clicks_after`` (all of them when None)."""
        ...

    async def close(self) -> None: ...
