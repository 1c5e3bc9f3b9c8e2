"""When a message may go: inside the plan's send windows, in the recipient's local time.

A window is hours of a weekday (``start_hour`` inclusive, ``end_hour`` exclusive) in the
recipient's zone ("local") or a named zone. A message due now goes now if now is inside a
window, else at the next window's opening: outside every window is quiet hours. Nothing is
sent before the campaign starts or after it ends; a recipient with no window left before
the end is sent nothing. A campaign that asked to send at once ignores the windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.events.campaigns import Schedule, SendWindow
from shared.events.common import Channel

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAYS_AHEAD = 8  # a weekly window is always found within a week and a day


def send_time(
    schedule: Schedule, channel: Channel, zone: ZoneInfo, now: datetime
) -> datetime | None:
    """When the recipient's message goes out; None when no window is left in the flight."""
    earliest = max(now, schedule.starts_at)
    if earliest > schedule.ends_at:
        return None
    windows = (schedule.send_windows or {}).get(channel)
    if not schedule.send_in_local_windows or not windows:
        return earliest
    opening = next_opening(windows, zone, earliest)
    return opening if opening is not None and opening <= schedule.ends_at else None


def next_opening(
    windows: Sequence[SendWindow], zone: ZoneInfo, earliest: datetime
) -> datetime | None:
    """``earliest`` if it falls inside a window, else the soonest window opening after it."""
    candidates = []
    for window in windows:
        window_zone = zone if window.timezone == "local" else ZoneInfo(window.timezone)
        local = earliest.astimezone(window_zone)
        for days in range(DAYS_AHEAD):
            day = local.date() + timedelta(days=days)
            if WEEKDAYS[day.weekday()] != window.weekday:
                continue
            opens = datetime.combine(day, time(window.start_hour), window_zone)
            closes = datetime.combine(day, time(0), window_zone) + timedelta(hours=window.end_hour)
            if opens <= earliest < closes:
                return earliest
            if opens > earliest:
                candidates.append(opens)
                break
    return min(candidates, default=None)
