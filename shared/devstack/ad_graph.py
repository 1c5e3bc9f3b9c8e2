"""The sandbox ad exchange's Graph API objects: Meta Marketing API parameters read and
checked, objects written back in Meta's shapes, and Graph's error bodies.

Parameters arrive as Meta's SDKs send them: form fields (or query parameters), with
structured values (``targeting``, ``creative``, ``filtering``) as JSON strings. Budgets
and bids are integers in the account currency's minor units; insights' ``spend`` is a
decimal string in major units, as Meta reports it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared.devstack.ad_auction import AdSet
from shared.money import MINOR_UNITS

BUDGETS = ("daily_budget", "lifetime_budget")
OPTIMIZATION_GOALS = frozenset({"IMPRESSIONS", "REACH", "LINK_CLICKS"})
STATUSES = frozenset({"ACTIVE", "PAUSED"})


class GraphError(Exception):
    """Answered as ``{"error": {...}}`` with Graph's codes: 100 invalid parameter (33 as
    the subcode: no such object), 190 bad access token, 2 temporarily unavailable."""

    def __init__(
        self,
        message: str,
        code: int = 100,
        *,
        status: int = 400,
        subcode: int | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.code, self.status, self.subcode, self.transient = code, status, subcode, transient

    def body(self, trace_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": f"(#{self.code}) {self}",
            "type": "OAuthException",
            "code": self.code,
            "is_transient": self.transient,
            "fbtrace_id": trace_id,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


def no_such_object(object_id: str) -> GraphError:
    return GraphError(
        f"Unsupported request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation",
        subcode=33,
    )


def required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise GraphError(f"The parameter {name} is required")
    return value


def positive_int(params: Mapping[str, str], name: str) -> int:
    text = required(params, name)
    if not text.isdigit() or int(text) <= 0:
        raise GraphError(f"Param {name} must be a positive integer (minor units), got {text!r}")
    return int(text)


def json_param(params: Mapping[str, str], name: str) -> Any:
    try:
        return json.loads(required(params, name))
    except ValueError:
        raise GraphError(f"Param {name} must be JSON") from None


def one_of(params: Mapping[str, str], name: str, allowed: frozenset[str], default: str) -> str:
    value = params.get(name) or default
    if value not in allowed:
        raise GraphError(f"Param {name} must be one of {', '.join(sorted(allowed))}")
    return value


def timestamp(params: Mapping[str, str], name: str) -> datetime | None:
    """ISO 8601 or Unix seconds, as Graph accepts both."""
    text = params.get(name)
    if not text:
        return None
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise GraphError(f"Param {name} must be an ISO 8601 time or Unix seconds") from None
    if parsed.tzinfo is None:
        raise GraphError(f"Param {name} must carry a UTC offset")
    return parsed


def budget(params: Mapping[str, str]) -> tuple[str, int]:
    """``("daily" | "lifetime", minor units)``; exactly one budget is given."""
    given = [name for name in BUDGETS if params.get(name)]
    if len(given) != 1:
        raise GraphError("Set exactly one of daily_budget or lifetime_budget")
    return given[0].removesuffix("_budget"), positive_int(params, given[0])


def matches(found: Mapping[str, Any], filtering: list[Any]) -> bool:
    """Graph's ``filtering``: ``[{"field", "operator": "EQUAL" | "IN", "value"}]``."""
    for rule in filtering:
        if not isinstance(rule, dict) or rule.get("operator") not in ("EQUAL", "IN"):
            raise GraphError("filtering supports EQUAL and IN in the sandbox")
        value, wanted = found.get(rule.get("field", "")), rule.get("value")
        if rule["operator"] == "EQUAL" and value != wanted:
            return False
        if rule["operator"] == "IN" and value not in (wanted or []):
            return False
    return True


def graph_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


def adset_view(adset: AdSet) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": adset.id,
        "name": adset.name,
        "campaign_id": adset.campaign_id,
        "status": adset.status,
        f"{adset.budget_kind}_budget": str(adset.budget),
        "bid_amount": adset.bid,
        **adset.fields,
    }
    for name, at in (("start_time", adset.start), ("end_time", adset.end)):
        if at is not None:
            view[name] = graph_time(at)
    return view


def major_units(minor: Decimal, currency: str) -> str:
    places = MINOR_UNITS[currency]
    return format((minor.scaleb(-places)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP), "f")
