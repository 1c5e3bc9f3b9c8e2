"""How the HTTP adapters tell "nothing reached the processor" from "no answer came back".

The difference decides what the payment service may do next (see the port): a request
that never left, or that the processor refused before processing, may go to the next
processor; a request that may have moved money and got no answer can only be settled by
asking the processor later. Each call says which kind it is with ``can_move_money``.
"""

from __future__ import annotations

import httpx

from services.payment.processors import (
    OutcomeUnknownError,
    ProcessorError,
    ProcessorUnavailableError,
)


async def send(
    client: httpx.AsyncClient, processor: str, request: httpx.Request, *, can_move_money: bool
) -> httpx.Response:
    """One attempt, no retries: the payment service owns routing and reconciliation."""
    try:
        return await client.send(request)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        # The connection was never made, so the request never left.
        raise ProcessorUnavailableError(
            "connection_failed", f"{processor}: could not connect for {request.url.path}"
        ) from exc
    except httpx.TimeoutException as exc:
        raise _unanswered(processor, "timeout", request, can_move_money=can_move_money) from exc
    except httpx.TransportError as exc:
        raise _unanswered(
            processor, "connection_lost", request, can_move_money=can_move_money
        ) from exc


def _unanswered(
    processor: str, code: str, request: httpx.Request, *, can_move_money: bool
) -> ProcessorError:
    message = f"{processor}: no answer for {request.method} {request.url.path} ({code})"
    if can_move_money:
        return OutcomeUnknownError(code, message)
    return ProcessorUnavailableError(code, message)


def refusal(processor: str, response: httpx.Response, *, can_move_money: bool) -> ProcessorError:
    """The error for an answer that carries no decision: auth, throttling, server faults.

    429 is refused before processing; a 5xx may come after the work was done, so it is only
    safe to call it "unavailable" when the call could not move money.
    """
    status = response.status_code
    path = response.request.url.path
    if status in (401, 403):
        return ProcessorUnavailableError(
            "authentication_failed", f"{processor}: credentials refused ({status}) for {path}"
        )
    if status == 429:
        return ProcessorUnavailableError("rate_limited", f"{processor}: throttled on {path}")
    if status >= 500:
        message = f"{processor}: server error {status} on {path}"
        if can_move_money:
            return OutcomeUnknownError("server_error", message)
        return ProcessorUnavailableError("server_error", message)
    return ProcessorUnavailableError(f"http_{status}", f"{processor}: {status} on {path}")
