"""Counting a round from the topics: revenue per accepted payment and refund, duplicates,
losses, dead letters; and whether every poison message, and nothing else, was dead-lettered."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from shared.events.topics import REVENUE_RECORDED, REVENUE_REVERSED, dead_letter_topic
from tests.faults.burst import Round
from tests.faults.injections import POISON_MARK, Injected
from tests.support.kafka import EventLog


@dataclass(frozen=True)
class Row:
    fault: str
    accepted: int
    charged: int
    recorded: int
    refunds: int
    reversed: int
    duplicates: int
    copies: int
    lost: int
    dead_letters: int
    recover_seconds: float

    @property
    def holds(self) -> bool:
        return self.recorded == self.charged and self.duplicates == 0 and self.lost == 0


HEADER = (
    "fault", "accepted", "charged", "recorded", "refunds", "reversed",
    "duplicates", "copies", "lost", "dead letters", "recover s",
)  # fmt: skip


def table(rows: list[Row]) -> str:
    cells = [HEADER] + [
        (r.fault, *map(str, (r.accepted, r.charged, r.recorded, r.refunds, r.reversed)),
         *map(str, (r.duplicates, r.copies, r.lost, r.dead_letters)), f"{r.recover_seconds:.1f}")
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in cells]  # fmt: skip
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def revenue_by(log: EventLog, topic: str, key: str, wanted: set[str]) -> dict[str, list[str]]:
    """Event ids on ``topic`` per ``data[key]``, for the wanted keys, every copy listed."""
    found: dict[str, list[str]] = {}
    for event in log.by_topic.get(topic, []):
        value = event.get("data", {}).get(key)
        if value in wanted:
            found.setdefault(value, []).append(event["id"])
    return found


def all_arrived(log: EventLog, played: Round) -> bool:
    taken, refunds = played.taken(), played.refunds_succeeded()
    recorded = revenue_by(log, REVENUE_RECORDED, "payment_id", taken)
    reversed_ = revenue_by(log, REVENUE_REVERSED, "refund_id", refunds)
    return len(recorded) == len(taken) and len(reversed_) == len(refunds)


def letters(log: EventLog) -> list[dict[str, Any]]:
    return [e for t, events in log.by_topic.items() if t.endswith(".dlq") for e in events]


def count_round(
    fault: str,
    played: Round,
    log: EventLog,
    injected: Injected,
    letters_before: int,
    seconds: float,
) -> Row:
    taken, refunds = played.taken(), played.refunds_succeeded()
    recorded = revenue_by(log, REVENUE_RECORDED, "payment_id", taken)
    reversed_ = revenue_by(log, REVENUE_REVERSED, "refund_id", refunds)
    ids = list(recorded.values()) + list(reversed_.values())
    # Two revenue events of one payment (or refund): counted twice, the defect that matters.
    duplicates = sum(len(set(copies)) > 1 for copies in ids)
    # One event published again (the outbox's at-least-once, or this suite's redelivery):
    # consumers drop it by its id.
    copies = sum(len(c) - len(set(c)) for c in ids)
    return Row(
        fault=fault,
        accepted=len(played.accepted),
        charged=len(taken),
        recorded=len(recorded),
        refunds=len(refunds),
        reversed=len(reversed_),
        duplicates=duplicates,
        copies=copies,
        lost=len(taken - set(recorded)) + len(refunds - set(reversed_)) + len(played.undecided()),
        dead_letters=len(letters(log)) - letters_before,
        recover_seconds=seconds,
    )


@dataclass(frozen=True)
class PoisonCheck:
    published: int
    missing: list[str]  # poison marks with no letter in their own topic's DLQ
    strangers: list[str]  # letters that are no poison message: the product's own

    @property
    def holds(self) -> bool:
        return not self.missing and not self.strangers


def check_poison(log: EventLog, injected: Injected, consumed: set[str]) -> PoisonCheck:
    """Each poison on a topic something consumes is in that topic's DLQ; nothing else is."""
    found: Counter[tuple[str, str]] = Counter()
    strangers = []
    for topic, events in log.by_topic.items():
        if not topic.endswith(".dlq"):
            continue
        for letter in events:
            original = str(letter.get("original", ""))
            mark = next((w for w in original.replace('"', " ").split() if POISON_MARK in w), "")
            if mark and dead_letter_topic(injected.poison.get(mark, "")) == topic:
                found[(mark, topic)] += 1
            else:
                strangers.append(f"{topic}: {original[:120]}")
    missing = [
        f"{topic}: {mark}"
        for mark, topic in injected.poison.items()
        if topic in consumed and not found[(mark, dead_letter_topic(topic))]
    ]
    return PoisonCheck(len(injected.poison), missing, strangers)
