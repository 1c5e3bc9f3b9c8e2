"""The one backoff policy: capped exponential backoff with full jitter, from tenacity.

Every retry in the product waits this way: a handler retried by the delivery policy, a
transaction retried after a write conflict, a dead letter or an outbox row waiting for the
broker, reconciliation backing off a payment it could not settle. Only the first wait and
the cap differ, so each caller names its own ``Backoff`` and nothing else.

Full jitter (a random wait between 0 and the capped exponential) is what spreads out
clients that failed together, which is when retries happen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tenacity


@dataclass(frozen=True)
class Backoff:
    """Waits drawn from [0, min(cap, first * 2 ** (attempt - 1))]."""

    first: float
    cap: float

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap:
            raise ValueError(f"a backoff needs 0 < first <= cap; got {self.first}, {self.cap}")

    def wait(self) -> tenacity.wait.wait_base:
        return tenacity.wait_random_exponential(multiplier=self.first, max=self.cap)

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based), for loops of their own."""
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(1, attempt)
        return float(self.wait()(state))

    def retrying(
        self,
        *,
        attempts: int | None = None,
        retry_on: Callable[[BaseException], bool] = lambda _: True,
        **options: Any,
    ) -> tenacity.AsyncRetrying:
        """tenacity's async retrier with this backoff; the last error is raised as itself."""
        stop = tenacity.stop_after_attempt(attempts) if attempts else tenacity.stop_never
        return tenacity.AsyncRetrying(
            wait=self.wait(),
            stop=stop,
            retry=tenacity.retry_if_exception(retry_on),
            reraise=True,
            **options,
        )
