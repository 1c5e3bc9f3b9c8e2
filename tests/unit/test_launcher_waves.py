"""Email waves: who goes in which wave, and how a release gives a queued delivery its variant."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.launcher.domain.brief import LaunchBrief
from services.launcher.domain.deliveries import Delivery, DeliveryStatus, SkipReason
from services.launcher.domain.launch_report import launch_report
from services.launcher.domain.recipients import Recipient
from services.launcher.domain.targeting import MemberFacts, TargetingRules, decide_email
from services.launcher.domain.waves import WavePlan, release, wave_weights
from services.launcher.releasing import resolve_weights
from shared.events.campaigns import (
    AudienceMember,
    CampaignPlanned,
    CampaignSegmented,
    ContentPiece,
    Schedule,
    SendWindow,
)
from shared.events.common import Channel
from tests.support.launches import email_content, plan, segments

# Tuesday 1 December 2026, 12:00 UTC.
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
PLAN = WavePlan(waves=4, first_share=Decimal("0.2"))
CUSTOMERS = [f"customer-{i}" for i in range(5_000)]
ALWAYS = Schedule(starts_at=NOW, ends_at=NOW + timedelta(days=14))


def within_binomial(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def queued(customer_id: str, send_at: datetime | None = NOW, zone: str = "UTC") -> Delivery:
    return Delivery(
        campaign_id="spring",
        customer_id=customer_id,
        channel=Channel.EMAIL,
        segment_id="loyal",
        variant_id=None,
        status=DeliveryStatus.QUEUED,
        send_at=send_at,
        wave=1,
        zone=zone,
        decided_at=NOW,
        updated_at=NOW,
    )


# --- who goes in which wave ---------------------------------------------------------------


def test_the_first_wave_takes_its_share_and_the_later_waves_split_the_rest_evenly() -> None:
    waves = Counter(PLAN.wave_of("spring", c) for c in CUSTOMERS)
    n = len(CUSTOMERS)
    assert set(waves) == {0, 1, 2, 3}
    assert within_binomial(waves[0], n, 0.2)
    for wave in (1, 2, 3):
        assert within_binomial(waves[wave], n, 0.8 / 3)


def test_a_customer_s_wave_is_the_same_on_every_run_and_drawn_afresh_per_campaign() -> None:
    first = [PLAN.wave_of("spring", c) for c in CUSTOMERS[:500]]
    again = [WavePlan(4, Decimal("0.2")).wave_of("spring", c) for c in CUSTOMERS[:500]]
    other = [PLAN.wave_of("summer", c) for c in CUSTOMERS[:500]]
    assert first == again
    assert sum(a == b for a, b in zip(first, other, strict=True)) < 300


def test_one_wave_sends_everyone_at_launch() -> None:
    assert {WavePlan(1, Decimal("0.2")).wave_of("spring", c) for c in CUSTOMERS} == {0}


def brief(letters: str = "ab") -> LaunchBrief:
    return LaunchBrief(
        campaign_id="spring",
        planned=CampaignPlanned.model_validate(plan("spring", starts_at=NOW)),
        segmented=CampaignSegmented.model_validate(segments("spring", {"loyal": 1})),
        content=[
            ContentPiece.model_validate(p)
            for p in email_content("spring", ["loyal"], letters)["content"]
        ],
        audience_chunks=frozenset({0}),
        audience_chunk_count=1,
    )


def test_a_later_wave_is_queued_with_a_send_time_and_no_variant_the_first_gets_one() -> None:
    rules = TargetingRules(frequency_cap=3, holdout_share=Decimal(0), waves=PLAN)
    decided = {}
    for customer_id in CUSTOMERS[:40]:
        recipient = Recipient(
            customer_id=customer_id,
            email=f"{customer_id}@example.com",
            first_name="Ana",
            email_opt_in=True,
            country="FR",
            timezone=None,
            as_of=NOW,
        )
        member = AudienceMember(customer_id=customer_id, segment_id="loyal")
        facts = MemberFacts(member, recipient, suppressed=False, recent_contacts=0)
        decided[customer_id] = decide_email(brief(), facts, rules, NOW)
    for customer_id, delivery in decided.items():
        assert delivery.wave == PLAN.wave_of("spring", customer_id)
        assert delivery.send_at is not None
        assert delivery.zone == "Europe/Paris"
        if delivery.wave == 0:
            assert delivery.status is DeliveryStatus.SCHEDULED
            assert delivery.variant_id in {"loyal-email-a", "loyal-email-b"}
        else:
            assert (delivery.status, delivery.variant_id) == (DeliveryStatus.QUEUED, None)
    assert {d.status for d in decided.values()} == {DeliveryStatus.SCHEDULED, DeliveryStatus.QUEUED}


def test_the_launch_report_counts_the_queued_as_reached_and_waiting() -> None:
    counts = {DeliveryStatus.SENT: 2, DeliveryStatus.QUEUED: 8, DeliveryStatus.HELD_OUT: 1}
    report = launch_report("spring", [Channel.EMAIL], counts, {}, [], NOW)
    assert (report.reach, report.scheduled, report.messages_accepted) == ({Channel.EMAIL: 10}, 8, 2)


# --- the weights a release uses -----------------------------------------------------------


@pytest.mark.parametrize(
    ("proposed", "weights", "refused"),
    [
        (None, {"a": 0.5, "b": 0.5}, False),
        ({"a": 0.9, "b": 0.1}, {"a": 0.9, "b": 0.1}, False),
        ({"a": 3.0, "b": 1.0}, {"a": 0.75, "b": 0.25}, False),
        ({"a": 1.0, "ghost": 1.0}, {"a": 1.0}, False),  # only the variants the brief has
        ({"a": 1.0, "b": 0.0}, {"a": 1.0}, False),  # a declared winner takes the rest
        ({"a": -0.1, "b": 1.1}, {"a": 0.5, "b": 0.5}, True),
        ({"a": float("nan"), "b": 1.0}, {"a": 0.5, "b": 0.5}, True),
        ({"ghost": 1.0}, {"a": 0.5, "b": 0.5}, True),
        ({}, {"a": 0.5, "b": 0.5}, True),
    ],
)
def test_a_verdict_s_weights_apply_to_the_brief_s_variants_else_equal_weights(
    proposed: dict[str, float] | None, weights: dict[str, float], refused: bool
) -> None:
    found, why = wave_weights(["a", "b"], proposed)
    assert found == pytest.approx(weights)
    assert (why is not None) is refused


def test_a_segment_without_a_verdict_keeps_equal_weights() -> None:
    weights, refused = resolve_weights(brief("abc"), {"other": {"x": 1.0}})
    third = 1 / 3
    variants = [f"loyal-email-{letter}" for letter in "abc"]
    assert weights == {"loyal": pytest.approx(dict.fromkeys(variants, third))}
    assert refused == {}


# --- releasing ----------------------------------------------------------------------------


def test_a_release_splits_its_wave_by_the_weights() -> None:
    weights = {"a": 0.9, "b": 0.1}
    released = [release(queued(c), weights, ALWAYS, NOW) for c in CUSTOMERS[:4_000]]
    counts = Counter(d.variant_id for d in released)
    assert {d.status for d in released} == {DeliveryStatus.SCHEDULED}
    assert within_binomial(counts["a"], 4_000, 0.9)
    assert within_binomial(counts["b"], 4_000, 0.1)


def test_a_delivery_keeps_its_variant_whatever_the_next_release_s_weights() -> None:
    first = [release(queued(c), {"a": 0.9, "b": 0.1}, ALWAYS, NOW) for c in CUSTOMERS[:2_000]]
    second = [release(d, {"a": 0.1, "b": 0.9}, ALWAYS, NOW + timedelta(hours=1)) for d in first]
    assert second == first
    # The same weights reversed would have moved most of them: stickiness is the rule's.
    fresh = [release(queued(c), {"a": 0.1, "b": 0.9}, ALWAYS, NOW) for c in CUSTOMERS[:2_000]]
    moved = sum(a.variant_id != b.variant_id for a, b in zip(first, fresh, strict=True))
    assert moved > 1_000


def test_a_late_release_keeps_to_the_recipient_s_send_windows() -> None:
    windows = Schedule(
        starts_at=NOW,
        ends_at=NOW + timedelta(days=14),
        send_windows={Channel.EMAIL: [SendWindow(weekday="wed", start_hour=9, end_hour=11)]},
        send_in_local_windows=True,
    )
    ahead = NOW + timedelta(hours=20)
    assert release(queued("c1", send_at=ahead), {"a": 1.0}, windows, NOW).send_at == ahead
    # Its window passed before the wave went: the next opening, in the recipient's own time.
    passed = queued("c1", send_at=NOW - timedelta(days=1), zone="Asia/Tokyo")
    late = release(passed, {"a": 1.0}, windows, NOW)
    assert late.send_at is not None
    local = late.send_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.weekday(), local.hour) == (2, 9)


def test_a_wave_released_after_the_last_window_is_sent_nothing() -> None:
    ended = Schedule(starts_at=NOW - timedelta(days=2), ends_at=NOW - timedelta(hours=1))
    late = release(queued("c1", send_at=NOW - timedelta(days=1)), {"a": 1.0}, ended, NOW)
    assert (late.status, late.skip_reason, late.variant_id) == (
        DeliveryStatus.SKIPPED,
        SkipReason.NO_SEND_WINDOW,
        None,
    )
