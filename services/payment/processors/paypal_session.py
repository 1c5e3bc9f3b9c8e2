"""An authorised conversation with PayPal's REST API: one HTTP client, one cached token.

PayPal grants an OAuth2 access token for the app's client id and secret (client
credentials) that lasts ``expires_in`` seconds, typically hours. The session asks for one
when it has none, reuses it until shortly before it expires, and asks again once when
PayPal answers 401 (a token revoked or expired early), repeating the call with the same
``PayPal-Request-Id`` so the repeat cannot act twice.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from typing import Any

import httpx

from services.payment.processors.http_calls import refusal, send

# Renew this long before PayPal's expiry, so no call carries a token that lapses in flight.
TOKEN_RENEWAL_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class _AccessToken:
    value: str
    renew_at: float  # on the time.monotonic() clock


class PayPalSession:
    def __init__(
        self, client_id: str, client_secret: str, base_url: str, timeout_seconds: float
    ) -> None:
        credentials = f"{client_id}:{client_secret}".encode()
        self._basic_auth = "Basic " + base64.b64encode(credentials).decode()
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout_seconds))
        self._token: _AccessToken | None = None
        self._token_lock = asyncio.Lock()

    async def close(self) -> None:
        await self._client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        request_id: str | None = None,
        can_move_money: bool = False,
        raw_json: bytes | None = None,
    ) -> httpx.Response:
        """Sends ``body`` as JSON, or ``raw_json`` verbatim; see ``http_calls.send``."""
        headers = {"Prefer": "return=representation"}
        if request_id is not None:
            headers["PayPal-Request-Id"] = request_id
        if raw_json is not None:
            headers["Content-Type"] = "application/json"
        request = self._client.build_request(
            method, path, json=body, content=raw_json, headers=headers
        )
        response = await self._send_with_token(request, can_move_money=can_move_money)
        if response.status_code == 401:
            self._token = None
            response = await self._send_with_token(request, can_move_money=can_move_money)
        return response

    async def _send_with_token(
        self, request: httpx.Request, *, can_move_money: bool
    ) -> httpx.Response:
        request.headers["Authorization"] = f"Bearer {await self._access_token()}"
        return await send(self._client, "paypal", request, can_move_money=can_move_money)

    async def _access_token(self) -> str:
        async with self._token_lock:  # concurrent calls wait for one token request
            if self._token is None or time.monotonic() >= self._token.renew_at:
                self._token = await self._request_token()
            return self._token.value

    async def _request_token(self) -> _AccessToken:
        request = self._client.build_request(
            "POST",
            "/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": self._basic_auth, "Accept": "application/json"},
        )
        response = await send(self._client, "paypal", request, can_move_money=False)
        if response.status_code != 200:
            raise refusal("paypal", response, can_move_money=False)
        granted = response.json()
        lifetime = float(granted["expires_in"]) - TOKEN_RENEWAL_MARGIN_SECONDS
        return _AccessToken(str(granted["access_token"]), time.monotonic() + lifetime)
