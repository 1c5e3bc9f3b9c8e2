"""The segmenter's HTTP surface: health, and for keys with the ``reports:read`` scope the
customer count an import can wait on and the decision log of its naming step."""

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


def http_app(
    infra: Infrastructure, customers: Customers, decisions: DecisionLog, keys: ApiKeys
) -> Starlette:
    async def customer_count(_: Request) -> JSONResponse:
        return JSONResponse({"customers": await customers.count()})

    return Starlette(
        routes=[
            *health_routes(infra),
            Route("/v1/customers/count", requiring(keys, Scope.REPORTS_READ, customer_count)),
            *decision_routes(decisions, keys),
        ]
    )
