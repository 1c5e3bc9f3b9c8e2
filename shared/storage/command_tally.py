"""Database commands counted as a client sends them: the round trips a piece of work costs,
measured by a pymongo command listener rather than estimated.

The outbox relay's reads and marks (and its lease) are background work done per batch of
rows, not per request: they are tallied apart (``background``), so ``request_path`` is what
the requests themselves cost, the outbox rows they insert included.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

from pymongo import monitoring

RELAY_COLLECTIONS = frozenset({"outbox_lease"})
ENDING = frozenset({"commitTransaction", "abortTransaction"})


class CommandTally(monitoring.CommandListener):
    """Commands by ``"<name> <collection>"``, on the request path and in the background."""

    def __init__(self) -> None:
        self.request_path: collections.Counter[str] = collections.Counter()
        self.background: collections.Counter[str] = collections.Counter()
        self._background_transactions: set[tuple[bytes, int]] = set()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        target = event.command.get(name)
        collection = target if isinstance(target, str) else ""
        transaction = _transaction_of(event.command)
        if name in ENDING:
            background = transaction in self._background_transactions
        else:
            background = _background(name, collection)
            if background and transaction is not None:
                self._background_transactions.add(transaction)
        tally = self.background if background else self.request_path
        tally[f"{name} {collection}".strip()] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def clear(self) -> None:
        self.request_path.clear()
        self.background.clear()

    def as_document(self) -> dict[str, Any]:
        return {
            "request_path": sum(self.request_path.values()),
            "transactions": self.request_path["commitTransaction"],
            "background": sum(self.background.values()),
            "by_command": dict(self.request_path),
        }


def _background(name: str, collection: str) -> bool:
    relay = (collection == "outbox" and name != "insert") or collection in RELAY_COLLECTIONS
    return relay or name == "endSessions"  # sent as the client closes


def _transaction_of(command: Mapping[str, Any]) -> tuple[bytes, int] | None:
    if "txnNumber" not in command or "lsid" not in command:
        return None
    return bytes(command["lsid"]["id"]), int(command["txnNumber"])
