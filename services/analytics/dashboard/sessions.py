"""Login sessions: a cookie naming the API key that logged in and when the session ends,
signed with HMAC-SHA256 under ``DASHBOARD_SESSION_SECRET``.

The cookie holds neither the key nor its hash, so a stolen cookie opens the dashboard until
it expires and nothing else. It is HttpOnly (no script reads it), SameSite=Strict (no other
site's page sends it) and, outside local mode, Secure. A session cannot be revoked one by
one: rotating the secret ends them all, and each ends by itself after its lifetime.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

COOKIE = "dashboard_session"


@dataclass(frozen=True)
class Session:
    key_name: str
    expires_at: datetime


class SessionCookies:
    """Issues and checks session cookie values; the clock is the caller's."""

    def __init__(self, secret: str, lifetime: timedelta) -> None:
        self._secret = secret.encode()
        self._lifetime = lifetime

    @property
    def lifetime(self) -> timedelta:
        return self._lifetime

    def issue(self, key_name: str, now: datetime) -> str:
        expires = int((now + self._lifetime).timestamp())
        payload = _b64(json.dumps({"key": key_name, "exp": expires}).encode())
        return f"{payload}.{self._signature(payload)}"

    def check(self, value: str | None, now: datetime) -> Session | None:
        """The session the cookie holds; None when absent, forged, malformed or expired."""
        payload, _, signature = (value or "").partition(".")
        if not payload or not hmac.compare_digest(signature, self._signature(payload)):
            return None
        try:
            content = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(
                str(content["key"]), datetime.fromtimestamp(int(content["exp"]), now.tzinfo)
            )
        except (binascii.Error, ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > now else None

    def _signature(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
