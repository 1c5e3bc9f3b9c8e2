"""One Graph API call, and Graph's answers turned into the port's errors.

Graph answers a failure with ``{"error": {"message", "type", "code", "error_subcode",
"is_transient", "fbtrace_id"}}``, usually as HTTP 400 whatever the cause, so the code
decides: 190 is a refused access token, 100 with subcode 33 an object that does not
exist, 100 otherwise a parameter the platform refused; throttling codes, ``is_transient``,
429 and 5xx are worth retrying, as is an answer lost on the way (the caller makes the
retry safe). The access token travels in the Authorization header only, so no URL, log
line or error message here can carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from services.launcher.ads.platform import AdPlatformError, AdSetNotFoundError

ACCESS_TOKEN_REFUSED = 190
NO_SUCH_OBJECT = 33
# Graph's "slow down" and "try again" codes: unknown, service, too many calls, user and
# app limits, ads management and ad account limits.
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, *range(80000, 80015)})


async def graph_call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One attempt; raises ``AdPlatformError`` (``transient`` when a retry may succeed)."""
    try:
        response = await client.request(method, path, params=params, data=data)
    except httpx.TransportError as error:
        reason = type(error).__name__
        message = f"meta: no answer to {method} {path} ({reason})"
        raise AdPlatformError(message, transient=True) from error
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success and isinstance(body, dict):
        return body
    raise graph_error(method, path, response.status_code, body)


def graph_error(method: str, path: str, status: int, body: Any) -> AdPlatformError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        transient = status >= 500 or status == 429
        return AdPlatformError(f"meta: {method} {path} answered {status}", transient=transient)
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = f"meta: {method} {path}: {error.get('message', 'no message')}"
    if error.get("fbtrace_id"):
        message += f" (fbtrace_id {error['fbtrace_id']})"
    if error.get("error_subcode") == NO_SUCH_OBJECT:
        return AdSetNotFoundError(message, code=code)
    if code == ACCESS_TOKEN_REFUSED:
        return AdPlatformError(
            f"{message}: check LAUNCHER_AD_PLATFORM_TOKEN", code=code, transient=False
        )
    transient = (
        status >= 500
        or status == 429
        or error.get("is_transient") is True
        or code in TRANSIENT_CODES
    )
    return AdPlatformError(message, code=code, transient=transient)


def is_transient(error: BaseException) -> bool:
    return isinstance(error, AdPlatformError) and error.transient
