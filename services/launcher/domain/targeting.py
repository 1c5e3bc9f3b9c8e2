"""Who is sent what: one decision per member of a campaign's audience on a channel.

In order, a member is sent nothing when: the launcher knows no address for them
(``no_address``); they did not consent to marketing email (``no_consent``); they are on
the suppression list (``suppressed``: unsubscribed, hard-bounced or complained); they
already had ``frequency_cap`` marketing messages decided in the last 7 days, across
campaigns (``frequency_capped``); no send window is left before the campaign ends
(``no_send_window``); or the content has no variant for their segment (``no_content``).
Of those who would be sent, the holdout share is kept out (``held_out``) to measure the
campaign's lift against like customers. Everyone else gets a send time in their own local
time and a wave (``waves``): the launch's own wave gets its variant now, split evenly; a
later wave's deliveries are queued until the optimiser's weights release them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from services.launcher.domain.assignment import equal_weights, held_out, pick_variant
from services.launcher.domain.brief import LaunchBrief
from services.launcher.domain.deliveries import Delivery, DeliveryStatus, SkipReason
from services.launcher.domain.recipients import Recipient
from services.launcher.domain.waves import WavePlan
from services.launcher.domain.windows import send_time
from services.launcher.domain.zones import recipient_zone
from shared.events.campaigns import AudienceMember
from shared.events.common import Channel

FREQUENCY_WINDOW = timedelta(days=7)
ONE_WAVE = WavePlan(waves=1, first_share=Decimal(1))  # everyone at launch


@dataclass(frozen=True)
class TargetingRules:
    frequency_cap: int
    holdout_share: Decimal
    waves: WavePlan = ONE_WAVE


@dataclass(frozen=True)
class MemberFacts:
    """What the launcher knows of one member when it decides."""

    member: AudienceMember
    recipient: Recipient | None
    suppressed: bool
    recent_contacts: int


def decide_email(
    brief: LaunchBrief, facts: MemberFacts, rules: TargetingRules, now: datetime
) -> Delivery:
    assert brief.planned is not None  # noqa: S101 - a launch starts from a complete brief
    member = facts.member
    decided = {
        "campaign_id": brief.campaign_id,
        "customer_id": member.customer_id,
        "channel": Channel.EMAIL,
        "segment_id": member.segment_id,
        "decided_at": now,
        "updated_at": now,
    }

    def skipped(reason: SkipReason) -> Delivery:
        return Delivery(
            **decided, variant_id=None, status=DeliveryStatus.SKIPPED, skip_reason=reason
        )

    recipient = facts.recipient
    if recipient is None:
        return skipped(SkipReason.NO_ADDRESS)
    if not recipient.email_opt_in:
        return skipped(SkipReason.NO_CONSENT)
    if facts.suppressed:
        return skipped(SkipReason.SUPPRESSED)
    if facts.recent_contacts >= rules.frequency_cap:
        return skipped(SkipReason.FREQUENCY_CAPPED)
    zone = recipient_zone(recipient.timezone, recipient.country)
    at = send_time(brief.planned.schedule, Channel.EMAIL, zone, now)
    if at is None:
        return skipped(SkipReason.NO_SEND_WINDOW)
    variants = [piece.variant_id for piece in brief.variants(member.segment_id, Channel.EMAIL)]
    if not variants:
        return skipped(SkipReason.NO_CONTENT)
    if held_out(brief.campaign_id, member.customer_id, rules.holdout_share):
        return Delivery(**decided, variant_id=None, status=DeliveryStatus.HELD_OUT)
    wave = rules.waves.wave_of(brief.campaign_id, member.customer_id)
    timed = decided | {"send_at": at, "wave": wave, "zone": zone.key}
    if wave > 0:
        return Delivery(**timed, variant_id=None, status=DeliveryStatus.QUEUED)
    variant_id = pick_variant(brief.campaign_id, member.customer_id, equal_weights(variants))
    return Delivery(**timed, variant_id=variant_id, status=DeliveryStatus.SCHEDULED)
