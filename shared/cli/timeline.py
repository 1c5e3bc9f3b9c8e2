"""One line per event: when, what, and the few facts that matter about it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.markup import escape

from shared.cli.report_format import count_text, money_text, percent_text
from shared.events import topics
from shared.events.topics import dead_letter_topic

type Event = dict[str, Any]


def requested(data: Event) -> str:
    return f"{data.get('name')!s}, budget {money_text(data.get('budget'))}"


def rejected(data: Event) -> str:
    errors = data.get("errors") or []
    return "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors) or "rejected"


def planned(data: Event) -> str:
    allocation = data.get("allocation") or {}
    split = ", ".join(f"{channel} {money_text(amount)}" for channel, amount in allocation.items())
    return f"{split}; predicted revenue {money_text(data.get('predicted_revenue'))}"


def segmented(data: Event) -> str:
    segments = data.get("segments") or []
    sizes = ", ".join(f"{s.get('segment_id')} {s.get('size')}" for s in segments)
    total = count_text(data.get("total_customers"))
    return f"{len(segments)} segments of {total} customers: {sizes}"


def audience(data: Event) -> str:
    chunk = int(data.get("chunk", 0))
    members = len(data.get("members") or [])
    return f"chunk {chunk + 1} of {data.get('chunks')}: {members:,} members for the launcher"


def content_generated(data: Event) -> str:
    return f"{len(data.get('content') or [])} content pieces"


def launched(data: Event) -> str:
    reach = data.get("reach") or {}
    split = ", ".join(f"{channel} {count:,}" for channel, count in reach.items())
    skipped = data.get("skipped") or {}
    why = ", ".join(f"{reason} {count:,}" for reason, count in skipped.items()) or "none"
    return (
        f"reached {data.get('total_reach', 0):,} ({split}); "
        f"{data.get('messages_accepted', 0):,} emails accepted, "
        f"{data.get('scheduled', 0):,} scheduled, {data.get('held_out', 0):,} held out, "
        f"skipped: {why}; {len(data.get('ad_sets') or [])} ad sets bought"
    )


def payment(data: Event) -> str:
    """A payment event: who paid what, how, and why it failed, was held or was refunded."""
    reason = f" ({data['failure_reason']})" if data.get("failure_reason") else ""
    held = ""
    if "risk_signals" in data:
        signals = ", ".join(data.get("risk_signals") or [])
        held = f", held for review: risk {data.get('risk_score')} ({signals})"
    refund = f", refunded {money_text(data['refund_amount'])}" if data.get("refund_amount") else ""
    return (
        f"{data.get('payment_id')} {money_text(data.get('amount'))} "
        f"{data.get('payment_method')} via {data.get('processor')}{reason}{held}{refund}"
    )


def payment_answer(view: Event) -> str:
    """A payment as the payment API answered: the same facts, and who released a held one."""
    risk = view.get("risk") or {}
    line = payment(
        {
            "payment_id": view.get("id"),
            "amount": view.get("amount"),
            "payment_method": view.get("payment_method"),
            "processor": view.get("processor"),
            "failure_reason": view.get("failure_reason"),
        }
    )
    if view.get("status") == "review":
        signals = ", ".join(r.get("signal", "?") for r in risk.get("reasons") or [])
        return f"{line}, held for review: risk {risk.get('score')} ({signals})"
    reviewers = [
        str(change.get("actor")).removeprefix("reviewer:")
        for change in view.get("status_history") or []
        if str(change.get("actor", "")).startswith("reviewer:")
    ]
    return f"{line}, approved by {reviewers[0]}" if reviewers else line


def revenue(data: Event) -> str:
    credit = data.get("attribution") or {}
    source = (
        f"{credit.get('channel')} / {credit.get('segment_id')} / {credit.get('variant_id')}"
        if credit.get("channel")
        else "organic"
    )
    return (
        f"{data.get('payment_id')} gross {money_text(data.get('gross'))}, "
        f"net {money_text(data.get('net'))}, credited to {source}"
    )


def performance(data: Event) -> str:
    return (
        f"gross {money_text(data.get('gross_revenue'))}, net {money_text(data.get('net_revenue'))}"
        f", {data.get('payments_completed')} paid / {data.get('payments_failed')} failed"
        f" ({percent_text(data.get('success_rate'))})"
    )


def evaluated(data: Event) -> str:
    """The optimiser's verdict per test: its winner, or the variant leading the next wave."""
    tests = []
    for verdict in data.get("experiments") or []:
        where = f"{verdict.get('segment_id')}/{verdict.get('channel')}"
        weights = verdict.get("weights") or {}
        if verdict.get("sample_ratio_mismatch"):
            tests.append(f"{where} frozen (sample ratio mismatch)")
        elif verdict.get("winner"):
            tests.append(f"{where} {verdict['winner']} (winner, all traffic)")
        elif weights:
            leader = max(weights, key=lambda variant: weights[variant])
            tests.append(f"{where} {leader} {percent_text(weights[leader])}")
    found = "; ".join(tests) or "no test with two variants yet"
    return f"cycle {data.get('cycle')}, the next wave's leaders: {found}"


def reallocated(data: Event) -> str:
    previous = data.get("previous") or {}
    allocation = data.get("allocation") or {}
    moves = ", ".join(
        f"{channel} {money_text(previous.get(channel))} -> {money_text(amount)}"
        for channel, amount in allocation.items()
    )
    return f"cycle {data.get('cycle')}: {moves}; remaining {money_text(data.get('remaining'))}"


def adjusted(data: Event) -> str:
    return (
        f"{data.get('ad_set_id')} bid {money_text(data.get('bid_before'))} -> "
        f"{money_text(data.get('bid'))}, budget {money_text(data.get('budget'))}"
        f" ({data.get('controller')}: {data.get('reason')})"
    )


SUMMARIES: dict[str, Callable[[Event], str]] = {
    topics.CAMPAIGN_REQUESTED: requested,
    topics.CAMPAIGN_REJECTED: rejected,
    topics.CAMPAIGN_PLANNED: planned,
    topics.CAMPAIGN_SEGMENTED: segmented,
    topics.CAMPAIGN_AUDIENCE: audience,
    topics.CAMPAIGN_CONTENT_GENERATED: content_generated,
    topics.CAMPAIGN_LAUNCHED: launched,
    topics.PAYMENT_INITIATED: payment,
    topics.PAYMENT_COMPLETED: payment,
    topics.PAYMENT_FAILED: payment,
    topics.PAYMENT_REVIEW_REQUIRED: payment,
    topics.PAYMENT_REFUNDED: payment,
    topics.REVENUE_RECORDED: revenue,
    topics.CAMPAIGN_PERFORMANCE: performance,
    topics.CAMPAIGN_EVALUATED: evaluated,
    topics.CAMPAIGN_REALLOCATED: reallocated,
    topics.ADS_ADJUSTED: adjusted,
}
STYLES = {
    topics.CAMPAIGN_REJECTED: "red",
    topics.PAYMENT_FAILED: "yellow",
    topics.PAYMENT_REVIEW_REQUIRED: "yellow",
}


def summary(topic: str, event: Event) -> str:
    if topic.endswith(dead_letter_topic("")):
        error = event.get("error") or {}
        reason = next(iter(str(error.get("message")).splitlines()), "")
        return (
            f"dead-lettered by {event.get('consumer_group')} after {event.get('attempts')} "
            f"attempt(s): {reason}"
        )
    data = event.get("data")
    describe = SUMMARIES.get(topic)
    if describe is None or not isinstance(data, dict):
        return ""
    try:
        return describe(data)
    except (AttributeError, TypeError, ValueError, KeyError):
        return "(unexpected shape)"


def event_line(topic: str, event: Event) -> str:
    """Rich markup for one event, e.g. ``12:00:03.120  campaign.launched  reached 2,412``."""
    return _line(
        str(event.get("time") or event.get("failed_at") or ""), topic, summary(topic, event)
    )


def answer_line(topic: str, view: Event) -> str:
    """The same line for a payment API answer, stamped with when the payment was processed."""
    time = str(view.get("processed_at") or view.get("created_at") or "")
    return _line(time, topic, payment_answer(view))


def _line(time: str, topic: str, text: str) -> str:
    try:
        clock = datetime.fromisoformat(time).strftime("%H:%M:%S.%f")[:-3]
    except ValueError:
        clock = time[:12]
    style = "red" if topic.endswith(".dlq") else STYLES.get(topic, "cyan")
    return f"{clock}  [{style}]{topic:<27}[/]  {escape(text)}"
