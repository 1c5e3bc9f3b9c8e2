"""The ad platform as Meta's Marketing API (Graph API) serves it, over httpx.

An order becomes three Graph objects in the ad account, each named by the order's key
(the campaign's by its campaign id): a campaign (``objective=OUTCOME_TRAFFIC``), an ad set
(``POST /{version}/act_{id}/adsets``: the budget as ``lifetime_budget`` or
``daily_budget`` and the bid as ``bid_amount``, both integers in the account currency's
minor units, ``billing_event=IMPRESSIONS``, ``optimization_goal=IMPRESSIONS`` so the bid is
per thousand impressions, the placement as ``targeting.publisher_platforms`` and the
segment as the custom audience its id names: filling a Meta custom audience with the
segment's members is not done here) and one ad carrying the creative inline (a link ad:
headline, body, call to action, landing URL). Graph has no idempotency key, so each is
looked up by name (``filtering`` on ``name``) before it is made, and a retry after a lost
answer finds what the lost call made. Updates go to ``POST /{version}/{adset_id}``.

Reports read ``GET /{adset_id}/insights?fields=impressions,clicks,spend&date_preset=maximum``
(lifetime totals; ``spend`` is a decimal string in major units). Meta reports no click
ids: the clicks with their ids come from ``GET /{adset_id}/sandbox_clicks``, which only
the sandbox exchange (``shared/devstack/ad_exchange.py``) serves; ``click_feed=False``
reads totals only, as against Meta itself.

Transient failures (transport errors, 429, 5xx, Graph's throttling codes) are retried
with the shared backoff; everything else surfaces at once as ``AdPlatformError``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from services.launcher.ads.graph_calls import graph_call, is_transient
from services.launcher.ads.meta_objects import adset_fields, link_ad_creative, minor_units
from services.launcher.ads.platform import (
    AdClick,
    AdPlatformError,
    AdSetOrder,
    Budget,
    DeliveryReport,
)
from shared.money import Money, round_half_up
from shared.retry import Backoff

log = logging.getLogger(__name__)

CLICK_PAGE = 500
CLICK_PAGES_PER_REPORT = 20  # the rest is read next time, from the cursor
RETRY = Backoff(first=0.2, cap=5.0)


class MetaAds:
    """``AdPlatform`` on one Meta ad account; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        account_id: str,
        *,
        api_version: str,
        page_id: str,
        click_feed: bool = True,
        timeout_seconds: float = 10.0,
        attempts: int = 4,
        backoff: Backoff = RETRY,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=f"{base_url.rstrip('/')}/{api_version}/",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=httpx.Timeout(timeout_seconds),
        )
        self._account = account_id if account_id.startswith("act_") else f"act_{account_id}"
        self._page_id = page_id
        self._click_feed = click_feed
        self._attempts = attempts
        self._backoff = backoff
        self._currency: str | None = None

    async def close(self) -> None:
        await self._client.aclose()

    async def create_ad_set(self, order: AdSetOrder) -> str:
        await self._same_currency(order.budget.amount, order.bid)
        campaign = await self._find_or_create(
            "campaigns",
            order.campaign_id,
            {"objective": "OUTCOME_TRAFFIC", "special_ad_categories": "[]", "status": "ACTIVE"},
        )
        adset = await self._find_or_create("adsets", order.key, adset_fields(order, campaign))
        creative = link_ad_creative(order.creative, self._page_id)
        ad = {"adset_id": adset, "creative": json.dumps(creative), "status": "ACTIVE"}
        await self._find_or_create("ads", order.key, ad)
        return adset

    async def pause(self, ad_set_id: str) -> None:
        await self._retried(lambda: self._call("POST", ad_set_id, data={"status": "PAUSED"}))

    async def change(
        self, ad_set_id: str, *, budget: Budget | None = None, bid: Money | None = None
    ) -> None:
        fields: dict[str, str] = {}
        if budget is not None:
            await self._same_currency(budget.amount)
            fields[f"{budget.kind.value}_budget"] = str(minor_units(budget.amount))
        if bid is not None:
            await self._same_currency(bid)
            fields["bid_amount"] = str(minor_units(bid))
        if fields:
            await self._retried(lambda: self._call("POST", ad_set_id, data=fields))

    async def report(self, ad_set_id: str, *, clicks_after: str | None) -> DeliveryReport:
        insights = await self._retried(
            lambda: self._call(
                "GET",
                f"{ad_set_id}/insights",
                params={"fields": "impressions,clicks,spend", "date_preset": "maximum"},
            )
        )
        currency = await self._account_currency()
        row = (insights.get("data") or [{}])[0]
        spend = round_half_up(Decimal(str(row.get("spend", "0"))), currency)
        clicks, cursor = await self._clicks(ad_set_id, clicks_after)
        return DeliveryReport(
            impressions=int(row.get("impressions", 0)),
            clicks=int(row.get("clicks", 0)),
            spend=Money(amount=spend, currency=currency),
            new_clicks=clicks,
            cursor=cursor,
        )

    async def _clicks(self, ad_set_id: str, after: str | None) -> tuple[list[AdClick], str | None]:
        clicks: list[AdClick] = []
        for _ in range(CLICK_PAGES_PER_REPORT if self._click_feed else 0):
            params = {"limit": str(CLICK_PAGE)} | ({"after": after} if after else {})
            read_page = functools.partial(
                self._call, "GET", f"{ad_set_id}/sandbox_clicks", params=params
            )
            page = await self._retried(read_page)
            clicks += [
                AdClick(c["id"], datetime.fromisoformat(c["time"]), c["landing_url"])
                for c in page.get("data") or []
            ]
            paging = page.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after", after)
            if not paging.get("next"):
                break
        return clicks, after

    async def _find_or_create(self, edge: str, name: str, fields: Mapping[str, str]) -> str:
        path = f"{self._account}/{edge}"
        by_name = json.dumps([{"field": "name", "operator": "EQUAL", "value": name}])

        async def find_or_create() -> str:
            found = await self._call("GET", path, params={"filtering": by_name, "fields": "id"})
            if found.get("data"):
                return str(found["data"][0]["id"])
            made = await self._call("POST", path, data={"name": name, **fields})
            return str(made["id"])

        # Each attempt looks first: a retry after a lost answer finds what it made.
        return await self._retried(find_or_create)

    async def _same_currency(self, *amounts: Money) -> None:
        currency = await self._account_currency()
        for amount in amounts:
            if amount.currency != currency:
                raise AdPlatformError(
                    f"meta: the ad account {self._account} bills in {currency}, "
                    f"not {amount.currency}: use an account in the campaign's currency"
                )

    async def _account_currency(self) -> str:
        if self._currency is None:
            account = await self._retried(
                lambda: self._call("GET", self._account, params={"fields": "currency"})
            )
            self._currency = str(account["currency"])
        return self._currency

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return await graph_call(self._client, method, path, params=params, data=data)

    async def _retried[T](self, call: Callable[[], Awaitable[T]]) -> T:
        retrying = self._backoff.retrying(
            attempts=self._attempts, retry_on=is_transient, before_sleep=_log_retry
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity re-raises the last error")


def _log_retry(state: Any) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("ad platform call failed (attempt %d), retrying: %s", state.attempt_number, error)
