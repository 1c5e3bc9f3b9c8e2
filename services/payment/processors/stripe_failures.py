"""What a failed Stripe call means for the payment: unavailable, or an unknown outcome.

The SDK retries transport failures and 5xx itself and reports only the last attempt's
failure. A retry refused after an attempt that timed out must still count as "may have
charged", or the route would send the customer to the next processor while Stripe holds a
charge; so the HTTP client notes, per adapter call, whether any attempt may have arrived.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx
import stripe

from services.payment.processors import (
    OutcomeUnknownError,
    ProcessorError,
    ProcessorUnavailableError,
)

log = logging.getLogger(__name__)

# Transport failures that prove the request never left: nothing can have been charged.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass
class Delivery:
    """What one adapter call learnt across the SDK's retries."""

    uncertain_code: str | None = None


_delivery: ContextVar[Delivery | None] = ContextVar("stripe_delivery", default=None)


@contextlib.contextmanager
def tracked_delivery() -> Iterator[Delivery]:
    """Collects what the HTTP client learns during one adapter call."""
    delivery = Delivery()
    token = _delivery.set(delivery)
    try:
        yield delivery
    finally:
        _delivery.reset(token)


class DeliveryTrackingClient(stripe.HTTPXClient):
    """Stripe's httpx client, noting attempts that may have reached Stripe."""

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            return await super().request_async(method, url, headers, post_data)
        except stripe.APIConnectionError as error:
            delivery = _delivery.get()
            if delivery is not None and delivery.uncertain_code is None:
                delivery.uncertain_code = _uncertain_code(error)
            raise


def _uncertain_code(error: stripe.APIConnectionError) -> str | None:
    # The SDK wraps every transport failure as APIConnectionError; the httpx cause tells a
    # request that never left from one sent but unanswered (read timeout, dropped reply).
    cause = error.__cause__
    if isinstance(cause, _NEVER_SENT):
        return None
    return "timeout" if isinstance(cause, httpx.TimeoutException) else "connection_lost"


def technical_error(
    error: stripe.StripeError, delivery: Delivery, *, can_move_money: bool
) -> ProcessorError:
    """The port's error for a call that ended without a decision; ``can_move_money`` is
    False for reads, whose failures are never "unknown"."""
    if delivery.uncertain_code is not None and can_move_money:
        return OutcomeUnknownError(delivery.uncertain_code, "an attempt may have reached Stripe")
    if isinstance(error, stripe.APIConnectionError):
        code = delivery.uncertain_code or "connection_failed"
        return ProcessorUnavailableError(code, "Stripe could not be reached")
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        log.error("Stripe refused the API key (HTTP %s): check its setting", error.http_status)
        return ProcessorUnavailableError("authentication_failed", "Stripe refused the API key")
    if isinstance(error, stripe.RateLimitError):
        # Stripe's rate limiter answers before the request is processed.
        return ProcessorUnavailableError("rate_limited", "Stripe asked to slow down")
    if isinstance(error, stripe.IdempotencyError):
        # The key was used before with other parameters: that earlier request may have
        # charged, and only a lookup can say.
        log.error("Stripe idempotency conflict (request %s)", error.request_id)
        return OutcomeUnknownError("idempotency_conflict", "the key was used differently")
    log.warning("Stripe failed: HTTP %s (request %s)", error.http_status, error.request_id)
    status = error.http_status or 0
    if status >= 500 and can_move_money:
        # Stripe documents a 5xx as indeterminate: the charge may have run before it failed.
        return OutcomeUnknownError("server_error", f"Stripe answered HTTP {status}")
    code = "server_error" if status >= 500 else f"http_{status}"
    return ProcessorUnavailableError(code, f"Stripe answered HTTP {status}")
