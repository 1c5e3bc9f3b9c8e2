"""Who may see the dashboard: a request with a bearer API key holding ``reports:read``, as
the report API asks, or one with a login session that such a key opened. Never anyone else."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from services.analytics.dashboard.pages import PREFIX
from services.analytics.dashboard.sessions import COOKIE, SessionCookies
from shared.api_keys.keyring import ApiKeys, bearer_token
from shared.api_keys.keys import Scope

log = logging.getLogger(__name__)


class DashboardAccess:
    def __init__(
        self,
        keys: ApiKeys,
        cookies: SessionCookies,
        clock: Callable[[], datetime],
        *,
        secure_cookies: bool,
    ) -> None:
        self._keys = keys
        self._cookies = cookies
        self._clock = clock
        self._secure = secure_cookies

    def viewer(self, request: Request) -> str | None:
        """The name of the key the request comes with; None without a key or a live session.
        A bearer key that is not ours, or lacks the scope, raises ``AccessDeniedError``."""
        token = bearer_token(request.headers.get("authorization"))
        if token is not None:
            return self._keys.authorize(token, Scope.REPORTS_READ).name
        session = self._cookies.check(request.cookies.get(COOKIE), self._clock())
        return session.key_name if session else None

    def log_in(self, key: str, response: Response) -> None:
        """Checks the key (``AccessDeniedError`` when refused) and sets the session cookie."""
        name = self._keys.authorize(key, Scope.REPORTS_READ).name
        response.set_cookie(
            COOKIE,
            self._cookies.issue(name, self._clock()),
            max_age=int(self._cookies.lifetime.total_seconds()),
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=self._secure,
        )
        log.info("dashboard session opened with API key %r", name)

    def log_out(self, response: Response) -> None:
        response.delete_cookie(
            COOKIE, path=PREFIX, httponly=True, samesite="strict", secure=self._secure
        )
