"""Crypto payments through a hosted-charge API in the style of Coinbase Commerce.

A charge is a payment request for a fixed local price (``pricing_type: fixed_price``),
which the customer's wallet pays on chain; the payment token travels in the charge's
metadata as ``payment_reference``. A new charge is ``pending``; the last entry of its
``timeline`` decides the rest: COMPLETED (or the older CONFIRMED, or RESOLVED by the
merchant) approves it, EXPIRED and CANCELED decline it, UNRESOLVED/UNDERPAID declines it
as ``underpaid``, and anything else (NEW, SIGNED, PENDING, other UNRESOLVED cases) keeps
it pending until the network or the merchant settles it.

Idempotency. The API has no idempotency header and assigns charge codes itself, so the
adapter finds an attempt by the ``attempt_key`` it writes into the charge's metadata:
``GET /charges/{code}`` when this process already knows the code, else a walk through
``GET /charges`` (newest first, cursor pagination) back to ``lookback`` ago, matching
``metadata.attempt_key``; the API cannot filter on metadata. ``charge`` looks first and
creates only when nothing is found. It takes no lock of its own: the payment service lets
only the holder of an attempt's lease charge it (the lease is renewed while the call is in
flight and taken over only once it has expired), whichever replica that is.

Refunds. The API has no refund call: a refund is a manual payout from the merchant's
wallet. ``refund`` says so with ``refund_not_supported`` rather than pretend.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.payment.processors import Charge, ChargeOutcome, RefundOrder, RefundOutcome
from services.payment.processors.http_calls import refusal, send

COINBASE_COMMERCE_URL = "https://api.commerce.coinbase.com"
API_VERSION = "2018-03-22"
APPROVED_STATUSES = frozenset({"COMPLETED", "CONFIRMED", "RESOLVED"})
DECLINED_STATUSES = frozenset({"EXPIRED", "CANCELED"})
# Enough to answer repeated lookups of recent attempts without walking the list.
KNOWN_CODES_LIMIT = 10_000
REFUND_NOT_SUPPORTED = "refund_not_supported"


class CryptoProcessor:
    """The ``crypto`` processor: see the module docstring for states and idempotency."""

    def __init__(
        self,
        api_key: str,
        base_url: str = COINBASE_COMMERCE_URL,
        timeout_seconds: float = 10.0,
        *,
        lookback: timedelta = timedelta(hours=24),
        page_size: int = 100,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_seconds),
            headers={"X-CC-Api-Key": api_key, "X-CC-Version": API_VERSION},
        )
        self._lookback = lookback
        self._page_size = page_size
        self._codes: dict[str, str] = {}  # attempt key -> charge code, oldest first

    @property
    def name(self) -> str:
        return "crypto"

    async def close(self) -> None:
        await self._client.aclose()

    async def charge(self, charge: Charge) -> ChargeOutcome:
        found = await self._find(charge.idempotency_key) or await self._create(charge)
        return _outcome(found)

    async def lookup(self, charge: Charge) -> ChargeOutcome | None:
        found = await self._find(charge.idempotency_key)
        return None if found is None else _outcome(found)

    async def refund(self, refund: RefundOrder) -> RefundOutcome:
        return RefundOutcome(None, REFUND_NOT_SUPPORTED)

    async def lookup_refund(self, refund: RefundOrder) -> RefundOutcome | None:
        return RefundOutcome(None, REFUND_NOT_SUPPORTED)

    @property
    def idempotency_window(self) -> timedelta:
        """An attempt is found again by walking the charges back to ``lookback``."""
        return self._lookback

    async def _create(self, charge: Charge) -> dict[str, Any]:
        metadata = {
            "payment_id": charge.payment_id,
            "campaign_id": charge.campaign_id,
            "customer_id": charge.customer_id,
            "attempt_key": charge.idempotency_key,
            "payment_reference": charge.payment_token,
        }
        body = {
            "name": "Campaign purchase",
            "description": f"Payment {charge.payment_id}"[:200],
            "pricing_type": "fixed_price",
            "local_price": {
                "amount": format(charge.amount.amount, "f"),
                "currency": charge.amount.currency,
            },
            "metadata": {name: value for name, value in metadata.items() if value is not None},
        }
        # A charge that was made but not answered could still be paid, so only ``lookup``
        # can settle a timeout; a 5xx or 429 means nothing was made.
        created = await self._call("POST", "/charges", json=body, can_move_money=True)
        if not created.is_success:
            raise refusal("crypto", created, can_move_money=False)
        made: dict[str, Any] = created.json()["data"]
        self._remember(charge.idempotency_key, made["code"])
        return made

    async def _find(self, attempt_key: str) -> dict[str, Any] | None:
        code = self._codes.get(attempt_key)
        if code is not None:
            shown = await self._call("GET", f"/charges/{code}")
            if shown.is_success:
                found: dict[str, Any] = shown.json()["data"]
                return found
            if shown.status_code != 404:
                raise refusal("crypto", shown, can_move_money=False)
        return await self._search(attempt_key)

    async def _search(self, attempt_key: str) -> dict[str, Any] | None:
        horizon = datetime.now(UTC) - self._lookback
        params: dict[str, str | int] = {"limit": self._page_size, "order": "desc"}
        while True:
            listed = await self._call("GET", "/charges", params=params)
            if not listed.is_success:
                raise refusal("crypto", listed, can_move_money=False)
            page = listed.json()
            charges: list[dict[str, Any]] = page.get("data") or []
            for found in charges:
                if (found.get("metadata") or {}).get("attempt_key") == attempt_key:
                    self._remember(attempt_key, found["code"])
                    return found
            if not charges or not (page.get("pagination") or {}).get("next_uri"):
                return None
            if datetime.fromisoformat(charges[-1]["created_at"]) < horizon:
                return None
            params["starting_after"] = charges[-1]["id"]

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        can_move_money: bool = False,
    ) -> httpx.Response:
        request = self._client.build_request(method, path, json=json, params=params)
        return await send(self._client, "crypto", request, can_move_money=can_move_money)

    def _remember(self, attempt_key: str, code: str) -> None:
        self._codes[attempt_key] = code
        if len(self._codes) > KNOWN_CODES_LIMIT:
            del self._codes[next(iter(self._codes))]


def verify_crypto_webhook(raw_body: bytes, signature: str, secret: str) -> bool:
    """True when ``signature`` (the X-CC-Webhook-Signature header) is the HMAC-SHA256 hex
    digest of the raw body under the webhook's shared secret."""
    if not signature or not secret:
        return False
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def _outcome(charge: Mapping[str, Any]) -> ChargeOutcome:
    code: str = charge["code"]
    timeline = charge.get("timeline") or [{"status": "NEW"}]
    status: str = timeline[-1]["status"]
    if status in APPROVED_STATUSES:
        return ChargeOutcome(code)
    if status in DECLINED_STATUSES:
        return ChargeOutcome(code, status.lower())
    if status == "UNRESOLVED" and timeline[-1].get("context") == "UNDERPAID":
        return ChargeOutcome(code, "underpaid")
    return ChargeOutcome(code, pending=True)
