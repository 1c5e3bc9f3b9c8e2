"""The launcher's metrics (names and conventions in ``shared/metrics.py``)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter

from shared.events.common import Channel

MESSAGES_SENT = Counter(
    "campaign_messages_sent_total",
    "Messages the launcher tried to send, by channel and outcome: accepted, hard_bounce, "
    "soft_bounce (tried again later), not_handed_over (the relay was unreachable), unknown "
    "(the transaction broke off) or skipped (suppressed, opted out or unaddressable since "
    "targeting).",
    ["channel", "outcome"],
)


def count_sent(channel: Channel, outcomes: Iterable[str]) -> None:
    for outcome in outcomes:
        MESSAGES_SENT.labels(channel.value, outcome).inc()
