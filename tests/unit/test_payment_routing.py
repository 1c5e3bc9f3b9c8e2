"""The circuit breaker and the router, on a clock the test moves by hand."""

from __future__ import annotations

import pytest

from services.payment.domain.routing import BreakerPolicy, CircuitBreaker, Router
from shared.events.payments import PaymentMethod

POLICY = BreakerPolicy(window=4, min_calls=2, min_success_rate=0.5, cool_down_seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def opened(clock: Clock, policy: BreakerPolicy = POLICY) -> CircuitBreaker:
    breaker = CircuitBreaker(policy, clock)
    for _ in range(policy.min_calls):
        assert breaker.allows_call()
        breaker.record(decided=False)
    assert breaker.is_open
    return breaker


def test_closed_breaker_lets_every_call_through(clock: Clock) -> None:
    breaker = CircuitBreaker(POLICY, clock)

    assert [breaker.allows_call() for _ in range(10)] == [True] * 10
    assert not breaker.is_open


def test_breaker_does_not_judge_before_the_minimum_number_of_calls(clock: Clock) -> None:
    breaker = CircuitBreaker(BreakerPolicy(window=10, min_calls=5), clock)

    for _ in range(4):
        breaker.record(decided=False)

    assert not breaker.is_open
    assert breaker.allows_call()


def test_breaker_opens_when_the_share_of_decided_calls_drops_below_the_minimum(
    clock: Clock,
) -> None:
    breaker = CircuitBreaker(POLICY, clock)

    breaker.record(decided=True)
    breaker.record(decided=False)
    assert not breaker.is_open  # 1 of 2 decided: exactly the minimum rate
    breaker.record(decided=False)

    assert breaker.is_open
    assert not breaker.allows_call()


def test_only_the_last_window_of_calls_counts(clock: Clock) -> None:
    breaker = CircuitBreaker(POLICY, clock)
    for decided in (False, True, True, True, True, False, False):
        breaker.record(decided=decided)
        assert not breaker.is_open  # never fewer than 2 of the last 4 decided

    breaker.record(decided=False)  # last four: True, False, False, False

    assert breaker.is_open


def test_open_breaker_refuses_calls_until_the_cool_down_has_passed(clock: Clock) -> None:
    breaker = opened(clock)

    clock.advance(POLICY.cool_down_seconds - 0.001)
    assert not breaker.allows_call()
    clock.advance(0.001)

    assert not breaker.is_open
    assert breaker.allows_call()


def test_after_the_cool_down_one_trial_call_at_a_time_is_let_through(clock: Clock) -> None:
    breaker = opened(clock)
    clock.advance(POLICY.cool_down_seconds)

    assert breaker.allows_call()
    assert [breaker.allows_call() for _ in range(5)] == [False] * 5


def test_a_decided_trial_closes_the_breaker_and_forgets_earlier_failures(clock: Clock) -> None:
    breaker = opened(clock)
    clock.advance(POLICY.cool_down_seconds)
    assert breaker.allows_call()

    breaker.record(decided=True)

    assert [breaker.allows_call() for _ in range(3)] == [True] * 3
    breaker.record(decided=False)
    assert not breaker.is_open  # 1 of 2 decided since it closed


def test_a_failed_trial_rests_the_processor_for_another_cool_down(clock: Clock) -> None:
    breaker = opened(clock)
    clock.advance(POLICY.cool_down_seconds)
    assert breaker.allows_call()

    breaker.record(decided=False)

    assert breaker.is_open
    clock.advance(POLICY.cool_down_seconds - 1)
    assert not breaker.allows_call()
    clock.advance(1)
    assert breaker.allows_call()


def test_a_trial_that_never_reports_back_does_not_rest_the_processor_for_good(
    clock: Clock,
) -> None:
    """A caller can fail between being let through and recording (its own write fails, the
    adapter raises something unexpected): the processor must come back all the same."""
    breaker = opened(clock)
    clock.advance(POLICY.cool_down_seconds)
    assert breaker.allows_call()  # the trial, whose outcome is never recorded

    clock.advance(POLICY.cool_down_seconds)

    assert breaker.allows_call()


ROUTES = {
    PaymentMethod.CREDIT_CARD: ("stripe", "paypal"),
    PaymentMethod.DEBIT_CARD: ("stripe",),
    PaymentMethod.PAYPAL: ("paypal",),
    PaymentMethod.BITCOIN: ("crypto",),
    PaymentMethod.ETHEREUM: ("crypto",),
}


def test_router_lists_every_configured_processor_in_order_resting_or_not(clock: Clock) -> None:
    router = Router(ROUTES, POLICY, clock)
    for _ in range(POLICY.min_calls):
        router.record("stripe", decided=False)

    assert router.route(PaymentMethod.CREDIT_CARD) == ("stripe", "paypal")
    assert router.first_choice(PaymentMethod.CREDIT_CARD) == "stripe"
    assert router.open_circuits() == ["stripe"]


def test_each_processor_has_its_own_breaker(clock: Clock) -> None:
    router = Router(ROUTES, POLICY, clock)

    for _ in range(POLICY.min_calls):
        router.record("stripe", decided=False)
    router.record("paypal", decided=True)

    assert not router.allows("stripe")
    assert router.allows("paypal")
    assert router.allows("crypto")
    clock.advance(POLICY.cool_down_seconds)
    assert router.open_circuits() == []
    assert router.allows("stripe")
