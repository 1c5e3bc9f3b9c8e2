"""How often, and after how long, a message's work runs again: one retry loop for a handler
and for an invalid-event hook, on the one backoff policy (``shared/retry.py``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from shared.messaging.failures import Failure, classify
from shared.retry import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the handler's own failures, the first run included; waiting
    out an outage never counts. Both waits start at ``base_delay``: up to 5 s between a
    failing handler's runs, up to 10 s between looks at whether an outage is over."""

    max_attempts: int = 5
    base_delay: float = 0.2
    handler_cap: float = 5.0
    outage_cap: float = 10.0

    def backoff(self, failure: Failure) -> Backoff:
        cap = self.outage_cap if failure is Failure.INFRASTRUCTURE else self.handler_cap
        return Backoff(self.base_delay, max(self.base_delay, cap))


class Attempts:
    """One piece of work's attempts: how many failed through its own fault, and the wait
    before the next one. ``on_outage`` runs before each wait for the infrastructure."""

    def __init__(
        self, policy: RetryPolicy, what: str, on_outage: Callable[[], None] = lambda: None
    ) -> None:
        self.failed = 0
        self._outages = 0
        self._policy = policy
        self._what = what
        self._on_outage = on_outage

    async def wait_after(self, error: Exception) -> bool:
        """Wait before trying again; False when ``error`` ends the attempts."""
        failure = classify(error)
        if failure is Failure.INFRASTRUCTURE:
            self._outages += 1
            self._on_outage()
            delay = self._policy.backoff(failure).delay(self._outages)
            log.warning(
                "%s: infrastructure unavailable (%d retries so far, not counted as attempts); "
                "retrying in %.1fs: %r",
                self._what,
                self._outages,
                delay,
                error,
            )
        else:
            self.failed += 1
            if failure is Failure.INVALID or self.failed >= self._policy.max_attempts:
                return False
            delay = self._policy.backoff(failure).delay(self.failed)
            log.warning(
                "%s failed (attempt %d of %d), retrying in %.2fs: %r",
                self._what,
                self.failed,
                self._policy.max_attempts,
                delay,
                error,
            )
        await asyncio.sleep(delay)
        return True
