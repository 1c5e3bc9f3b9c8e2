"""The sandbox exchange's ad accounts: campaigns, ad sets and ads made, listed, read and
changed through Graph API paths, and each ad set's insights and click feed.

Any ``act_...`` id is an account, opened on first use in the exchange's currency; each
sees only its own objects, so tests can keep apart by account.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from shared.devstack import ad_graph as graph
from shared.devstack.ad_auction import AdMarket, AdSet
from shared.devstack.ad_graph import GraphError

INSIGHT_FIELDS = frozenset({"impressions", "clicks", "spend", "account_currency", "adset_id"})
MAX_PAGE = 500


class AdAccounts:
    def __init__(self, market: AdMarket, currency: str) -> None:
        self.market = market
        self.currency = currency
        self.campaigns: dict[str, dict[str, Any]] = {}

    def handle(self, method: str, segments: list[str], params: Mapping[str, str]) -> Any:
        head, *rest = segments
        if head.startswith("act_") and not rest and method == "GET":
            return {"id": head, "account_id": head.removeprefix("act_"), "currency": self.currency}
        if head.startswith("act_") and len(rest) == 1 and rest[0] in ("campaigns", "adsets", "ads"):
            if method == "POST":
                return {"id": getattr(self, f"_create_{rest[0]}")(head, params)}
            found = [v for v in self._views(head, rest[0]) if graph.matches(v, _filtering(params))]
            return {"data": [_chosen(view, params) for view in found]}
        if not rest:
            return self._update(head, params) if method == "POST" else self._read(head, params)
        if rest == ["insights"] and method == "GET":
            return self._insights(self._adset(head), params)
        if rest == ["sandbox_clicks"] and method == "GET":
            return self._clicks(self._adset(head), params)
        raise GraphError("Unknown path components", 2500)

    def _create_campaigns(self, account: str, params: Mapping[str, str]) -> str:
        if not isinstance(graph.json_param(params, "special_ad_categories"), list):
            raise GraphError("Param special_ad_categories must be a JSON list")
        campaign = {
            "id": self.market.new_id(),
            "account_id": account,
            "name": graph.required(params, "name"),
            "objective": graph.required(params, "objective"),
            "status": graph.one_of(params, "status", graph.STATUSES, "ACTIVE"),
        }
        self.campaigns[campaign["id"]] = campaign
        return campaign["id"]

    def _create_adsets(self, account: str, params: Mapping[str, str]) -> str:
        campaign = self.campaigns.get(graph.required(params, "campaign_id"))
        if campaign is None or campaign["account_id"] != account:
            raise graph.no_such_object(params["campaign_id"])
        if params.get("billing_event") != "IMPRESSIONS":
            raise GraphError("Param billing_event must be IMPRESSIONS in the sandbox")
        kind, amount = graph.budget(params)
        start, end = graph.timestamp(params, "start_time"), graph.timestamp(params, "end_time")
        if kind == "lifetime" and end is None:
            raise GraphError("end_time is required with a lifetime_budget")
        targeting = graph.json_param(params, "targeting")
        platforms = targeting.get("publisher_platforms") if isinstance(targeting, dict) else None
        if not platforms or not set(platforms) <= set(self.market.markets):
            known = ", ".join(self.market.markets)
            raise GraphError(f"targeting.publisher_platforms must be some of {known}")
        adset = AdSet(
            id=self.market.new_id(),
            account=account,
            name=graph.required(params, "name"),
            campaign_id=campaign["id"],
            platforms=tuple(platforms),
            bid=graph.positive_int(params, "bid_amount"),
            budget_kind=kind,
            budget=amount,
            status=graph.one_of(params, "status", graph.STATUSES, "ACTIVE"),
            start=start,
            end=end,
            fields={
                "billing_event": "IMPRESSIONS",
                "optimization_goal": graph.one_of(
                    params, "optimization_goal", graph.OPTIMIZATION_GOALS, ""
                ),
                "targeting": targeting,
            },
        )
        self.market.ad_sets[adset.id] = adset
        return adset.id

    def _create_ads(self, account: str, params: Mapping[str, str]) -> str:
        adset = self._adset(graph.required(params, "adset_id"))
        if adset.account != account:
            raise graph.no_such_object(adset.id)
        creative = graph.json_param(params, "creative")
        link = (creative.get("object_story_spec") or {}).get("link_data", {}).get("link", "")
        if not str(link).startswith(("https://", "http://")):
            raise GraphError("creative.object_story_spec.link_data.link must be an http(s) URL")
        ad = self.market.add_ad(adset, graph.required(params, "name"), link)
        ad.status = graph.one_of(params, "status", graph.STATUSES, "ACTIVE")
        return ad.id

    def _views(self, account: str, edge: str) -> list[dict[str, Any]]:
        ad_sets = [a for a in self.market.ad_sets.values() if a.account == account]
        if edge == "campaigns":
            return [c for c in self.campaigns.values() if c["account_id"] == account]
        if edge == "adsets":
            return [graph.adset_view(adset) for adset in ad_sets]
        return [
            {"id": ad.id, "name": ad.name, "adset_id": ad.adset_id, "status": ad.status}
            for adset in ad_sets
            for ad in adset.ads
        ]

    def _read(self, object_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        if object_id in self.campaigns:
            return _chosen(self.campaigns[object_id], params)
        return _chosen(graph.adset_view(self._adset(object_id)), params)

    def _update(self, object_id: str, params: Mapping[str, str]) -> dict[str, bool]:
        adset = self._adset(object_id)
        unknown = set(params) - {"status", "bid_amount", *graph.BUDGETS, "access_token"}
        if unknown:
            raise GraphError(f"Param {sorted(unknown)[0]} cannot be changed in the sandbox")
        if "status" in params:
            adset.status = graph.one_of(params, "status", graph.STATUSES, "")
        if "bid_amount" in params:
            adset.bid = graph.positive_int(params, "bid_amount")
        if any(name in params for name in graph.BUDGETS):
            kind, amount = graph.budget(params)
            if kind != adset.budget_kind:
                raise GraphError(f"The ad set has a {adset.budget_kind} budget; set that one")
            spent = (
                adset.spend if kind == "lifetime" else adset.spend_by_day[self.market.now.date()]
            )
            if amount < spent:
                raise GraphError(f"{kind}_budget cannot be below what was spent ({spent})")
            adset.budget = amount
        return {"success": True}

    def _insights(self, adset: AdSet, params: Mapping[str, str]) -> dict[str, Any]:
        fields = params.get("fields", "impressions,spend").split(",")
        if unknown := set(fields) - INSIGHT_FIELDS:
            raise GraphError(f"Param fields: {sorted(unknown)[0]} is not an insights field")
        if params.get("date_preset", "maximum") != "maximum":
            raise GraphError("The sandbox reports lifetime totals only: date_preset=maximum")
        if adset.impressions == 0:
            return {"data": []}  # as Meta answers for an ad set that has not delivered
        values = {
            "impressions": str(adset.impressions),
            "clicks": str(len(adset.clicks)),
            "spend": graph.major_units(adset.spend, self.currency),
            "account_currency": self.currency,
            "adset_id": adset.id,
        }
        row = {name: values[name] for name in fields}
        today = graph.graph_time(self.market.now)[:10]
        return {"data": [row | {"date_start": today, "date_stop": today}]}

    def _clicks(self, adset: AdSet, params: Mapping[str, str]) -> dict[str, Any]:
        start = _position(params.get("after"))
        limit = min(graph.positive_int(params, "limit") if "limit" in params else 100, MAX_PAGE)
        page = adset.clicks[start : start + limit]
        data = [
            {
                "id": c.click_id,
                "time": graph.graph_time(c.at),
                "landing_url": c.landing_url,
                "ad_id": c.ad_id,
            }
            for c in page
        ]
        if not page:
            return {"data": []}
        end = start + len(page)
        paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(end)}}
        if end < len(adset.clicks):
            paging["next"] = f"?after={_cursor(end)}&limit={limit}"
        return {"data": data, "paging": paging}

    def _adset(self, adset_id: str) -> AdSet:
        adset = self.market.ad_sets.get(adset_id)
        if adset is None:
            raise graph.no_such_object(adset_id)
        return adset


def _filtering(params: Mapping[str, str]) -> list[Any]:
    if not params.get("filtering"):
        return []
    rules = graph.json_param(params, "filtering")
    if not isinstance(rules, list):
        raise GraphError("Param filtering must be a JSON list")
    return rules


def _chosen(view: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
    """Graph answers with the fields asked for (``fields=a,b``), and the id."""
    fields = [f for f in params.get("fields", "name").split(",") if f]
    return {"id": view["id"]} | {name: view[name] for name in fields if name in view}


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode()


def _position(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        position = int(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        position = -1
    if position < 0:
        raise GraphError("Param after is not a cursor this edge gave")
    return position
