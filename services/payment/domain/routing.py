"""Which processors may take a payment, in which order, and which are resting.

The routing table (configuration) lists, per payment method, the processors to try in
order. A technical failure on one moves the payment to the next; a decline never does (the
customer's bank said no, and asking elsewhere is how card testing works).

Each processor has a circuit breaker over its recent technical outcomes: when, over the
last ``window`` calls (at least ``min_calls`` of them), the share that got a decision drops
below ``min_success_rate``, the processor is skipped for ``cool_down_seconds``; then one
trial call is let through, and its result closes the breaker or opens it again. A breaker
is per process: each replica learns from its own calls, which needs no shared state and
reacts as fast.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from shared.events.payments import PaymentMethod

DEFAULT_ROUTES: Mapping[PaymentMethod, tuple[str, ...]] = {
    PaymentMethod.CREDIT_CARD: ("stripe",),
    PaymentMethod.DEBIT_CARD: ("stripe",),
    PaymentMethod.PAYPAL: ("paypal",),
    PaymentMethod.BITCOIN: ("crypto",),
    PaymentMethod.ETHEREUM: ("crypto",),
}


@dataclass(frozen=True)
class BreakerPolicy:
    window: int = 20
    min_calls: int = 5
    min_success_rate: float = 0.5
    cool_down_seconds: float = 30.0


class CircuitBreaker:
    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._outcomes: deque[bool] = deque(maxlen=policy.window)
        self._open_until: float | None = None
        self._trial_started: float | None = None

    @property
    def is_open(self) -> bool:
        return self._open_until is not None and self._clock() < self._open_until

    def allows_call(self) -> bool:
        """Closed: yes. Open: no. Cooled down: one trial call at a time; a trial that never
        reports back (its caller failed) expires after another cool-down."""
        if self._open_until is None:
            return True
        now = self._clock()
        if now < self._open_until:
            return False
        trial = self._trial_started
        if trial is not None and now < trial + self._policy.cool_down_seconds:
            return False
        self._trial_started = now
        return True

    def record(self, decided: bool) -> None:
        """``decided``: the processor answered approved, declined or pending."""
        if self._open_until is not None:
            self._trial_started = None
            if decided:
                self._open_until = None
                self._outcomes.clear()
            else:
                self._open_until = self._clock() + self._policy.cool_down_seconds
            return
        self._outcomes.append(decided)
        calls = len(self._outcomes)
        if calls >= self._policy.min_calls:
            success_rate = sum(self._outcomes) / calls
            if success_rate < self._policy.min_success_rate:
                self._open_until = self._clock() + self._policy.cool_down_seconds


class Router:
    def __init__(
        self,
        routes: Mapping[PaymentMethod, Sequence[str]],
        policy: BreakerPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._routes = routes
        processors = {name for candidates in routes.values() for name in candidates}
        self._breakers = {name: CircuitBreaker(policy, clock) for name in processors}

    def route(self, method: PaymentMethod) -> Sequence[str]:
        """Every processor configured for ``method``, in order, resting or not."""
        return self._routes[method]

    def first_choice(self, method: PaymentMethod) -> str:
        return self._routes[method][0]

    def allows(self, processor: str) -> bool:
        return self._breakers[processor].allows_call()

    def record(self, processor: str, *, decided: bool) -> None:
        self._breakers[processor].record(decided)

    def open_circuits(self) -> list[str]:
        return sorted(name for name, breaker in self._breakers.items() if breaker.is_open)
