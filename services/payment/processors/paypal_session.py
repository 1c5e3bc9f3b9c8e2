"""An authorised conversation with PayPal's REST API: one HTTP client, one cached token.

PayPal grants an OAuth2 access token for the app's client id and secret (client
credentials) that lasts ``expires_in`` seconds, typically hours. Authlib's OAuth2 client
asks for it (HTTP Basic client authentication, as PayPal wants) and keeps it with its
expiry; the session asks again shortly before it expires, and once when PayPal answers
401 (a token revoked or expired early), repeating the call with the same
``PayPal-Request-Id`` so the repeat cannot act twice.

Authlib only fetches tokens. Its HTTP client is built on ``httpx2``, whose errors are not
httpx's; the calls themselves stay on httpx, where ``http_calls`` tells "nothing reached
PayPal" from "no answer came back". A token request can never move money, so any failure
to get one means PayPal is unavailable.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import httpx2
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc6749 import OAuth2Token

from services.payment.processors import ProcessorUnavailableError
from services.payment.processors.http_calls import send

# Renew this long before PayPal's expiry, so no call carries a token that lapses in flight.
TOKEN_RENEWAL_MARGIN_SECONDS = 60
TOKEN_PATH = "/v1/oauth2/token"  # noqa: S105 - a path, not a secret


class PayPalSession:
    def __init__(
        self, client_id: str, client_secret: str, base_url: str, timeout_seconds: float
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout_seconds))
        self._oauth = AsyncOAuth2Client(
            client_id,
            client_secret,
            token_endpoint=f"{base_url.rstrip('/')}{TOKEN_PATH}",
            grant_type="client_credentials",
            timeout=timeout_seconds,
        )
        self._token: OAuth2Token | None = None
        self._token_lock = asyncio.Lock()

    async def close(self) -> None:
        await self._client.aclose()
        await self._oauth.aclose()

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
            token = self._token
            if token is None or token.is_expired(leeway=TOKEN_RENEWAL_MARGIN_SECONDS):
                token = self._token = await self._fetch_token()
            return str(token["access_token"])

    async def _fetch_token(self) -> OAuth2Token:
        try:
            granted = await self._oauth.fetch_token()
        except OAuthError as error:
            raise ProcessorUnavailableError(
                "authentication_failed", f"paypal: credentials refused ({error.error})"
            ) from None
        except httpx2.ConnectError:
            raise ProcessorUnavailableError(
                "connection_failed", f"paypal: could not connect for {TOKEN_PATH}"
            ) from None
        except httpx2.HTTPError as error:
            code = "timeout" if isinstance(error, httpx2.TimeoutException) else "connection_lost"
            raise ProcessorUnavailableError(code, f"paypal: no token ({code})") from None
        return OAuth2Token(dict(granted))
