"""Launch rules: time zones, send windows, deterministic draws, targeting, tracking tokens."""

from __future__ import annotations

import base64
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.launcher.domain.assignment import draw, equal_weights, held_out, pick_variant
from services.launcher.domain.brief import LaunchBrief
from services.launcher.domain.deliveries import DeliveryStatus, SkipReason
from services.launcher.domain.recipients import Recipient
from services.launcher.domain.targeting import MemberFacts, TargetingRules, decide_email
from services.launcher.domain.tracking import (
    KeyringError,
    LinkKind,
    TrackedLink,
    TrackingKeys,
)
from services.launcher.domain.windows import send_time
from services.launcher.domain.zones import recipient_zone
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
RULES = TargetingRules(frequency_cap=3, holdout_share=Decimal("0.05"))


def schedule(*windows: SendWindow, in_windows: bool = True, days: int = 14) -> Schedule:
    return Schedule(
        starts_at=NOW,
        ends_at=NOW + timedelta(days=days),
        send_windows={Channel.EMAIL: list(windows)},
        send_in_local_windows=in_windows,
    )


# --- time zones -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "country", "zone"),
    [
        ("Asia/Tokyo", "US", "Asia/Tokyo"),  # their own zone wins
        (None, "FR", "Europe/Paris"),  # one zone
        (None, "DE", "Europe/Berlin"),  # Berlin and Busingen keep one clock
        (None, "US", "UTC"),  # several clocks: ambiguous
        (None, "ES", "UTC"),  # the Canaries keep another clock
        (None, "ZZ", "UTC"),  # no such country
    ],
)
def test_a_recipient_s_zone_is_theirs_else_their_country_s_when_unambiguous(
    timezone: str | None, country: str, zone: str
) -> None:
    assert recipient_zone(timezone, country) == ZoneInfo(zone)


# --- send windows -------------------------------------------------------------------------


def test_inside_a_local_window_the_message_goes_now() -> None:
    # 12:00 UTC is 21:00 in Tokyo on Tuesday.
    window = SendWindow(weekday="tue", start_hour=20, end_hour=22)
    assert send_time(schedule(window), Channel.EMAIL, ZoneInfo("Asia/Tokyo"), NOW) == NOW


def test_outside_every_window_the_message_waits_for_the_next_local_opening() -> None:
    window = SendWindow(weekday="thu", start_hour=9, end_hour=11)
    at = send_time(schedule(window), Channel.EMAIL, ZoneInfo("America/New_York"), NOW)
    assert at == datetime(2026, 12, 3, 9, tzinfo=ZoneInfo("America/New_York"))
    tokyo = send_time(schedule(window), Channel.EMAIL, ZoneInfo("Asia/Tokyo"), NOW)
    assert tokyo == datetime(2026, 12, 3, 9, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert tokyo < at  # the same local hour comes earlier further east


def test_a_window_already_closed_today_opens_again_next_week() -> None:
    window = SendWindow(weekday="tue", start_hour=9, end_hour=11)
    at = send_time(schedule(window), Channel.EMAIL, ZoneInfo("Europe/Paris"), NOW)
    assert at == datetime(2026, 12, 8, 9, tzinfo=ZoneInfo("Europe/Paris"))


def test_a_window_in_a_named_zone_is_kept_in_that_zone() -> None:
    window = SendWindow(weekday="wed", start_hour=0, end_hour=1, timezone="UTC")
    at = send_time(schedule(window), Channel.EMAIL, ZoneInfo("Asia/Tokyo"), NOW)
    assert at == datetime(2026, 12, 2, 0, tzinfo=UTC)


def test_no_window_before_the_campaign_ends_means_no_send() -> None:
    window = SendWindow(weekday="fri", start_hour=9, end_hour=11)
    assert send_time(schedule(window, days=2), Channel.EMAIL, ZoneInfo("UTC"), NOW) is None


def test_send_now_ignores_the_windows() -> None:
    window = SendWindow(weekday="fri", start_hour=9, end_hour=11)
    assert send_time(schedule(window, in_windows=False), Channel.EMAIL, ZoneInfo("UTC"), NOW) == NOW


@given(
    zone=st.sampled_from(["UTC", "Asia/Tokyo", "America/New_York", "Australia/Lord_Howe"]),
    weekday=st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
    start=st.integers(0, 23),
    length=st.integers(1, 6),
    offset_minutes=st.integers(0, 7 * 24 * 60),
)
def test_a_message_never_goes_in_quiet_hours(
    zone: str, weekday: str, start: int, length: int, offset_minutes: int
) -> None:
    window = SendWindow(weekday=weekday, start_hour=start, end_hour=min(24, start + length))  # type: ignore[arg-type]
    now = NOW + timedelta(minutes=offset_minutes)
    plan_ = Schedule(
        starts_at=NOW, ends_at=NOW + timedelta(days=30), send_windows={Channel.EMAIL: [window]}
    )
    at = send_time(plan_, Channel.EMAIL, ZoneInfo(zone), now)
    assert at is not None
    assert at >= now
    local = at.astimezone(ZoneInfo(zone))
    assert ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()] == weekday
    assert window.start_hour <= local.hour < window.end_hour


# --- deterministic draws ------------------------------------------------------------------


def test_assignment_is_sticky_and_the_same_everywhere() -> None:
    weights = equal_weights(["v-a", "v-b", "v-c"])
    first = [pick_variant("spring", f"c{i}", weights) for i in range(200)]
    again = [pick_variant("spring", f"c{i}", weights) for i in range(200)]
    assert first == again
    # Another campaign draws afresh: assignments are not correlated across campaigns.
    other = [pick_variant("summer", f"c{i}", weights) for i in range(200)]
    assert sum(a == b for a, b in zip(first, other, strict=True)) < 120


def test_variants_follow_the_weights_and_the_holdout_its_share() -> None:
    customers = [f"customer-{i}" for i in range(20_000)]
    counts = Counter(pick_variant("spring", c, [("a", 1.0), ("b", 3.0)]) for c in customers)
    assert counts["b"] / len(customers) == pytest.approx(0.75, abs=0.015)
    held = sum(held_out("spring", c, Decimal("0.05")) for c in customers)
    assert held / len(customers) == pytest.approx(0.05, abs=0.005)


def test_the_holdout_draw_is_independent_of_the_variant_draw() -> None:
    assert draw("holdout", "spring", "c1") != draw("variant", "spring", "c1")
    customers = [f"c{i}" for i in range(10_000)]
    held = [c for c in customers if held_out("spring", c, Decimal("0.2"))]
    split = Counter(pick_variant("spring", c, equal_weights(["a", "b"])) for c in held)
    assert split["a"] / len(held) == pytest.approx(0.5, abs=0.04)


# --- targeting ----------------------------------------------------------------------------


def brief(letters: str = "ab", **plan_overrides: object) -> LaunchBrief:
    return LaunchBrief(
        campaign_id="spring",
        # The plan starts at the tests' fixed NOW, not at the wall clock's, which moves past it.
        planned=CampaignPlanned.model_validate(plan("spring", starts_at=NOW, **plan_overrides)),  # type: ignore[arg-type]
        segmented=CampaignSegmented.model_validate(segments("spring", {"loyal": 1})),
        content=[
            ContentPiece.model_validate(p)
            for p in email_content("spring", ["loyal"], letters)["content"]
        ],
        audience_chunks=frozenset({0}),
        audience_chunk_count=1,
    )


def recipient(customer_id: str = "c1", **overrides: object) -> Recipient:
    values: dict[str, object] = {
        "customer_id": customer_id,
        "email": f"{customer_id}@example.com",
        "first_name": "Ana",
        "email_opt_in": True,
        "country": "FR",
        "timezone": None,
        "as_of": NOW,
    }
    return Recipient.model_validate(values | overrides)


def facts(customer_id: str = "c1", **overrides: object) -> MemberFacts:
    values: dict[str, object] = {
        "member": AudienceMember(customer_id=customer_id, segment_id="loyal"),
        "recipient": recipient(customer_id),
        "suppressed": False,
        "recent_contacts": 0,
    }
    return MemberFacts(**(values | overrides))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"recipient": None}, SkipReason.NO_ADDRESS),
        ({"recipient": recipient(email_opt_in=False)}, SkipReason.NO_CONSENT),
        ({"suppressed": True}, SkipReason.SUPPRESSED),
        ({"recent_contacts": 3}, SkipReason.FREQUENCY_CAPPED),
    ],
)
def test_who_is_sent_nothing_and_why(changes: dict[str, object], reason: SkipReason) -> None:
    decided = decide_email(brief(), facts(**changes), RULES, NOW)
    assert (decided.status, decided.skip_reason, decided.variant_id) == (
        DeliveryStatus.SKIPPED,
        reason,
        None,
    )


def test_under_the_cap_a_customer_is_scheduled_with_a_variant_for_now() -> None:
    no_holdout = TargetingRules(frequency_cap=3, holdout_share=Decimal(0))
    decided = decide_email(brief(), facts(recent_contacts=2), no_holdout, NOW)
    assert decided.status is DeliveryStatus.SCHEDULED
    assert decided.variant_id in {"loyal-email-a", "loyal-email-b"}
    assert decided.send_at == NOW


def test_no_variant_for_the_segment_is_a_skip_not_a_guess() -> None:
    decided = decide_email(brief(letters=""), facts(), RULES, NOW)
    assert decided.skip_reason is SkipReason.NO_CONTENT


def test_only_those_who_would_be_sent_are_held_out() -> None:
    everyone = TargetingRules(frequency_cap=3, holdout_share=Decimal("0.999999"))
    assert decide_email(brief(), facts(), everyone, NOW).status is DeliveryStatus.HELD_OUT
    unconsented = facts(recipient=recipient(email_opt_in=False))
    assert decide_email(brief(), unconsented, everyone, NOW).status is DeliveryStatus.SKIPPED


# --- tracking tokens ----------------------------------------------------------------------

KEY_1 = "t1:" + base64.b64encode(b"k" * 32).decode()
KEY_2 = "t2:" + base64.b64encode(b"q" * 32).decode()
LINK = TrackedLink(LinkKind.CLICK, "spring", "loyal", Channel.EMAIL, "loyal-email-a", "c1")


def test_a_signed_token_reads_back_as_its_link() -> None:
    keys = TrackingKeys.parse(KEY_1)
    assert keys.verify(keys.sign(LINK)) == LINK


def test_keys_rotate_new_first_old_still_verifying() -> None:
    old = TrackingKeys.parse(KEY_1).sign(LINK)
    rotated = TrackingKeys.parse(f"{KEY_2},{KEY_1}")
    assert rotated.verify(old) == LINK
    assert rotated.sign(LINK).startswith("t2.")
    assert TrackingKeys.parse(KEY_2).verify(old) is None  # t1 dropped: its links are dead


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t.replace("t1.", "t9.", 1),  # unknown key id
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # altered signature
        lambda t: t.split(".")[0] + "." + t.split(".")[1][::-1] + "." + t.split(".")[2],
        lambda t: t.split(".")[0] + "." + t.split(".")[1],  # no signature
        lambda t: "nonsense",
        lambda t: "",
    ],
)
def test_a_forged_or_altered_token_reads_as_nothing(forge: object) -> None:
    keys = TrackingKeys.parse(KEY_1)
    assert keys.verify(forge(keys.sign(LINK))) is None  # type: ignore[operator]


def test_a_token_signed_with_another_key_under_the_same_id_reads_as_nothing() -> None:
    impostor = TrackingKeys.parse("t1:" + base64.b64encode(b"z" * 32).decode())
    assert TrackingKeys.parse(KEY_1).verify(impostor.sign(LINK)) is None


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("", "entry 1"),
        ("t1:not base64!", "entry 1 (t1): not base64"),
        ("t1:" + base64.b64encode(b"short").decode(), "under 32 bytes"),
        (f"{KEY_1},bad id:xyz", "entry 2"),
    ],
)
def test_a_malformed_keyring_names_the_entry_never_the_key(setting: str, message: str) -> None:
    with pytest.raises(KeyringError, match=re.escape(message)) as raised:
        TrackingKeys.parse(setting)
    assert base64.b64encode(b"k" * 32).decode() not in str(raised.value)
