"""What ``campaign.launched`` says: what really happened when the campaign went live.

Email reach counts people: those whose message a server accepted, those waiting for a send
window in their own time or for their wave, and those whose message is in flight or was
tried and will be tried again; held-out and skipped people are counted apart, by reason.
A paid channel's reach and impressions are what its platform reported so far, which at
launch is usually nothing: the ad sets and their budgets are what was bought.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from services.launcher.domain.deliveries import DeliveryStatus
from shared.events.campaigns import AdSetLaunched, CampaignLaunched
from shared.events.common import Channel

REACHED = (
    DeliveryStatus.SENT,
    DeliveryStatus.QUEUED,
    DeliveryStatus.SCHEDULED,
    DeliveryStatus.SENDING,
    DeliveryStatus.DEFERRED,
    DeliveryStatus.UNKNOWN,
)

# The launch report's ``scheduled``: going later, in a send window, a retry or a later wave.
WAITING_TO_GO = (DeliveryStatus.SCHEDULED, DeliveryStatus.DEFERRED, DeliveryStatus.QUEUED)


def launch_report(
    campaign_id: str,
    channels: Sequence[Channel],
    email: Mapping[DeliveryStatus, int],
    skipped: Mapping[str, int],
    ad_sets: Sequence[AdSetLaunched],
    now: datetime,
    paid_reach: Mapping[Channel, int] | None = None,
    impressions: Mapping[Channel, int] | None = None,
) -> CampaignLaunched:
    reach: Counter[Channel] = Counter()
    for channel in channels:
        if channel is Channel.EMAIL:
            reach[channel] = sum(email.get(status, 0) for status in REACHED)
        else:
            reach[channel] = (paid_reach or {}).get(channel, 0)
    return CampaignLaunched(
        campaign_id=campaign_id,
        reach=dict(reach),
        total_reach=sum(reach.values()),
        launched_at=now,
        messages_accepted=email.get(DeliveryStatus.SENT, 0),
        scheduled=sum(email.get(status, 0) for status in WAITING_TO_GO),
        skipped=dict(skipped),
        held_out=email.get(DeliveryStatus.HELD_OUT, 0),
        impressions={c: n for c, n in (impressions or {}).items() if c in channels},
        ad_sets=list(ad_sets),
    )
