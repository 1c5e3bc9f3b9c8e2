"""The payment HTTP API: take, list, read, review and refund payments; OpenAPI at /docs.

Requests pass an API key with the route's scope, then the guards in ``guards``; every
error answers with the envelope in ``errors``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from pydantic_core import to_json
from starlette.routing import BaseRoute

from services.payment.api.errors import ErrorBody, handle_errors
from services.payment.api.guards import Admission, CardDataGuard, ClientPolicy, IdempotencyKey
from services.payment.domain.requests import CreatePayment, RefundRequest, ReviewDecision
from services.payment.handlers import PaymentHandlers
from services.payment.metrics import PAYMENT_REQUESTS
from services.payment.storage.payments import InvalidCursorError, PaymentQuery
from services.payment.views import Answer, PaymentView
from shared.api_keys.fastapi_dependency import requires
from shared.api_keys.keyring import ApiKeys
from shared.api_keys.keys import Scope
from shared.events.payments import PaymentStatus

type Responses = dict[int | str, dict[str, Any]]


def _errors(*statuses: int) -> Responses:
    return {status: {"model": ErrorBody} for status in statuses}


_DECLINED: Responses = {
    402: {"model": PaymentView, "description": "Declined: status failed, with the reason."}
}
_HELD: Responses = {
    202: {
        "model": PaymentView,
        "description": "Held for review, or the processor has not decided yet (processing).",
    }
}


class PaymentPage(BaseModel):
    data: list[PaymentView]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


def _reply(answer: Answer) -> Response:
    """Serialised by pydantic's Rust encoder, not ``json.dumps``: the body is the one
    stored as the key's answer, so it is a document already."""
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return Response(
        to_json(answer.body),
        status_code=answer.status_code,
        headers=headers,
        media_type="application/json",
    )


def build_api(
    handlers: PaymentHandlers,
    keys: ApiKeys,
    clients: ClientPolicy,
    extra_routes: list[BaseRoute],
    admission: Admission,
    webhooks: APIRouter | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Payment service",
        version="1.0.0",
        description="Payments attributed to campaigns, routed to processors by method, "
        "scored for risk, refundable. Every /v1/payments call needs a bearer API key "
        "holding the route's scope (PAYMENT_API_KEY holds them all); "
        "the processors' /v1/webhooks calls are verified by their signatures instead.",
        routes=extra_routes,
        # A redirect would repeat the path, and a path may hold what the guards refuse.
        redirect_slashes=False,
    )
    handle_errors(app)
    card_data = Depends(CardDataGuard.for_clients(clients))

    def guarded(scope: Scope) -> list[Any]:
        """The key first: a client without one learns nothing about the rest."""
        return [requires(keys, scope), card_data]

    router = APIRouter(prefix="/v1/payments")

    @router.post(
        "",
        status_code=201,
        response_model=PaymentView,
        responses=_DECLINED | _HELD | _errors(401, 403, 409, 422),
        dependencies=guarded(Scope.PAYMENTS_WRITE),
    )
    async def create_payment(
        payment: CreatePayment, idempotency_key: IdempotencyKey, request: Request
    ) -> Response:
        with admission.admit(), PAYMENT_REQUESTS.time():
            context = clients.context(request)
            return _reply(await handlers.take_payment(payment, idempotency_key, context))

    @router.get(
        "",
        response_model=PaymentPage,
        responses=_errors(401, 403, 422),
        dependencies=guarded(Scope.PAYMENTS_READ),
    )
    async def list_payments(
        campaign_id: str | None = None,
        customer_id: str | None = None,
        status: PaymentStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: str | None = None,
    ) -> PaymentPage:
        query = PaymentQuery(limit, campaign_id, customer_id, status, cursor)
        try:
            views, next_cursor = await handlers.list_payments(query)
        except InvalidCursorError as error:
            raise _field_error("cursor", str(error)) from None
        return PaymentPage(data=views, next_cursor=next_cursor)

    @router.get(
        "/{payment_id}",
        response_model=PaymentView,
        responses=_errors(401, 403, 404),
        dependencies=guarded(Scope.PAYMENTS_READ),
    )
    async def get_payment(payment_id: str) -> PaymentView:
        return await handlers.find_payment(payment_id)

    @router.post(
        "/{payment_id}/review",
        response_model=PaymentView,
        responses=_DECLINED | _errors(401, 403, 404, 409, 422),
        dependencies=guarded(Scope.PAYMENTS_WRITE),
    )
    async def review_payment(
        payment_id: str, decision: ReviewDecision, idempotency_key: IdempotencyKey
    ) -> Response:
        """Approve (the payment is charged now) or decline a payment held in review."""
        with admission.admit():
            return _reply(await handlers.review(payment_id, decision, idempotency_key))

    @router.post(
        "/{payment_id}/refunds",
        status_code=201,
        response_model=PaymentView,
        responses=_errors(401, 402, 403, 404, 409, 422),
        dependencies=guarded(Scope.REFUNDS_WRITE),
    )
    async def refund_payment(
        payment_id: str, refund: RefundRequest, idempotency_key: IdempotencyKey
    ) -> Response:
        """Refund up to what is left, through the processor that took the payment."""
        with admission.admit():
            return _reply(await handlers.refund(payment_id, refund, idempotency_key))

    app.include_router(router)
    if webhooks is not None:
        app.include_router(webhooks)
    return app


def _field_error(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", field), "msg": message, "type": "value_error"}]
    )
