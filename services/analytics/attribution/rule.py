"""The attribution rule: what a completed payment is credited to, from the journey alone.

In order:

1. **The click the payment names** (its ``click_id``, the ``cid`` the storefront received),
   when analytics has it and it happened at most the lookback window before the payment:
   it wins whatever else the customer was sent or clicked. The click's campaign, segment,
   channel and variant are credited, even when the payment names another campaign: the
   click is the launcher's record of where the customer came from, the campaign id in the
   payment only the storefront's claim.
2. Else **the customer's touches of the payment's campaign** (sends and clicks) within the
   lookback window before the payment: the last one is credited.
3. Else the sale is **unattributed** (organic).

The sale's *path*, over which the models share the credit, is its customer's touches of the
credited campaign in the window, up to the credited touch (a named click ends the path: the
sale came through it).

A payment naming a click analytics has not seen yet waits for it, briefly (see
``late_clicks``): clicks and payments travel on different topics and may arrive in either
order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.analytics.journeys import Touch
from shared.events.payments import Attribution


@dataclass(frozen=True)
class AttributionPolicy:
    lookback: timedelta
    click_grace: timedelta

    def window_start(self, paid_at: datetime) -> datetime:
        return paid_at - self.lookback


@dataclass(frozen=True)
class Attributed:
    """What a sale is credited to; ``path`` is empty for an unattributed (organic) sale."""

    campaign_id: str
    attribution: Attribution
    click_id: str | None
    path: tuple[Touch, ...]

    @property
    def is_attributed(self) -> bool:
        return bool(self.path)


def usable_click(click: Touch | None, paid_at: datetime, policy: AttributionPolicy) -> Touch | None:
    """The named click, if it may still be credited: no older than the lookback window.

    A click dated after the payment is kept: the storefront had its id, so it came first,
    and only the two services' clocks disagree.
    """
    if click is None or click.at < policy.window_start(paid_at):
        return None
    return click


def attribute(
    campaign_id: str,
    paid_at: datetime,
    click: Touch | None,
    touches: Sequence[Touch],
    policy: AttributionPolicy,
) -> Attributed:
    """Credit a sale of ``campaign_id`` at ``paid_at``: to ``click`` (usable, see
    ``usable_click``), else to the last of the customer's ``touches`` of the credited
    campaign in the window, else to nothing."""
    start = policy.window_start(paid_at)
    if click is not None:
        before = [
            t
            for t in touches
            if start <= t.at and t.sort_key() < click.sort_key() and t.key != click.key
        ]
        path = (*sorted(before, key=Touch.sort_key), click)
        return Attributed(click.campaign_id, click.attribution, click.key, path)
    within = sorted((t for t in touches if start <= t.at <= paid_at), key=Touch.sort_key)
    if not within:
        return Attributed(campaign_id, Attribution(), None, ())
    last = within[-1]
    return Attributed(campaign_id, last.attribution, last.click_id, tuple(within))
