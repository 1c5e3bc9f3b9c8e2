"""The segmenter's HTTP surface: health, and for keys with the ``reports:read`` scope the
customer count an import can wait on and the decision log of its naming step."""

from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.segmenter.repository import Customers
from shared.ai.decisions import DecisionLog, decision_routes
from shared.api_keys.keyring import ApiKeys
from shared.api_keys.keys import Scope
from shared.api_keys.starlette_routes import requiring
from shared.runtime import Infrastructure, health_routes

UPDATED_SINCE = "updated_since"


class InvalidQueryError(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


def updated_since(request: Request) -> datetime | None:
    """The optional ``updated_since`` parameter: an ISO 8601 time with its offset."""
    raw = request.query_params.get(UPDATED_SINCE)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidQueryError(
            UPDATED_SINCE, f"not an ISO 8601 time: {raw!r} (e.g. 2026-03-01T09:30:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise InvalidQueryError(UPDATED_SINCE, "needs a UTC offset, e.g. Z or +01:00")
    return moment


def http_app(
    infra: Infrastructure, customers: Customers, decisions: DecisionLog, keys: ApiKeys
) -> Starlette:
    async def customer_count(request: Request) -> JSONResponse:
        try:
            since = updated_since(request)
        except InvalidQueryError as error:
            # The body FastAPI gives a bad query parameter, as the launcher's count does.
            detail = [{"loc": ["query", error.parameter], "msg": error.message}]
            return JSONResponse({"detail": detail}, status_code=422)
        return JSONResponse({"customers": await customers.count(since)})

    return Starlette(
        routes=[
            *health_routes(infra),
            Route("/v1/customers/count", requiring(keys, Scope.REPORTS_READ, customer_count)),
            *decision_routes(decisions, keys),
        ]
    )
