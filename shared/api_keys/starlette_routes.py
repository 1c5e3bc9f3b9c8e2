"""The key check in front of plain Starlette routes (planner, segmenter, content)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.api_keys.keyring import AccessDeniedError, ApiKeys, bearer_token
from shared.api_keys.keys import Scope

type Endpoint = Callable[[Request], Awaitable[Response]]


def requiring(keys: ApiKeys, scope: Scope, endpoint: Endpoint) -> Endpoint:
    """``endpoint``, answered only for a key holding ``scope``: 401 or 403 otherwise, with
    the body FastAPI gives its errors (``{"detail": ...}``)."""

    async def guarded(request: Request) -> Response:
        try:
            keys.authorize(bearer_token(request.headers.get("authorization")), scope)
        except AccessDeniedError as denied:
            return JSONResponse(
                {"detail": denied.message}, status_code=denied.status, headers=denied.headers
            )
        return await endpoint(request)

    return guarded
