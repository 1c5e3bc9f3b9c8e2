"""The key check as a FastAPI dependency (payment, analytics): ``dependencies=[requires(...)]``
on a route. The bearer scheme shows in the OpenAPI document, so /docs can send a key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.api_keys.keyring import AccessDeniedError, ApiKeys
from shared.api_keys.keys import ApiKey, Scope

_BEARER = HTTPBearer(
    auto_error=False,
    description="An API key holding the route's scope: the service's own key "
    "(PAYMENT_API_KEY, ANALYTICS_API_KEY) or one listed in API_KEYS_FILE.",
)


def requires(keys: ApiKeys, scope: Scope) -> Any:
    """A dependency answering 401 without a known key and 403 without ``scope``."""

    async def authorized(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> ApiKey:
        try:
            return keys.authorize(credentials.credentials if credentials else None, scope)
        except AccessDeniedError as denied:
            raise HTTPException(denied.status, denied.message, headers=denied.headers) from None

    return Depends(authorized)
