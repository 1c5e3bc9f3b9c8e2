"""The payment HTTP API: take, list, read, review and refund payments; OpenAPI at /docs.

Requests pass the guards in ``api_guards`` first; every error answers with the envelope
in ``api_errors``.
"""

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, SecretStr
from starlette.routing import BaseRoute

from services.payment.api.errors import NO_SUCH_PAYMENT, ErrorBody, error_response, handle_errors
from services.payment.api.guards import Admission, CardDataGuard, ClientPolicy, IdempotencyKey
from services.payment.domain.payment import CreatePayment
from services.payment.handlers import PaymentHandlers, RefundRequest, ReviewDecision
from services.payment.idempotency import Answer
from services.payment.storage.payments import InvalidCursorError, PaymentQuery
from shared.events.common import FieldError
from shared.events.payments import PaymentRecord, PaymentStatus

type Responses = dict[int | str, dict[str, Any]]


def _errors(*statuses: int) -> Responses:
    return {status: {"model": ErrorBody} for status in statuses}


_DECLINED: Responses = {
    402: {"model": PaymentRecord, "description": "Declined: status failed, with the reason."}
}
_HELD: Responses = {
    202: {
        "model": PaymentRecord,
        "description": "Held for review, or the processor has not decided yet (processing).",
    }
}


class PaymentPage(BaseModel):
    data: list[PaymentRecord]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


def _reply(answer: Answer) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


def build_api(
    handlers: PaymentHandlers,
    api_key: SecretStr,
    clients: ClientPolicy,
    extra_routes: list[BaseRoute],
    admission: Admission,
    webhooks: APIRouter | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Payment service",
        version="1.0.0",
        description="Payments attributed to campaigns, routed to processors by method, "
        "scored for risk, refundable. Every /v1/payments call needs the bearer API key; "
        "the processors' /v1/webhooks calls are verified by their signatures instead.",
        routes=extra_routes,
        # A redirect would repeat the path, and a path may hold what the guards refuse.
        redirect_slashes=False,
    )
    handle_errors(app)
    bearer = HTTPBearer(auto_error=False, description="The PAYMENT_API_KEY.")

    async def authorized(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        given = (credentials.credentials if credentials else "").encode()
        if not hmac.compare_digest(given, api_key.get_secret_value().encode()):
            raise HTTPException(
                401,
                "send Authorization: Bearer <PAYMENT_API_KEY>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    router = APIRouter(
        prefix="/v1/payments",
        dependencies=[Depends(authorized), Depends(CardDataGuard.for_clients(clients))],
    )

    @router.post(
        "",
        status_code=201,
        response_model=PaymentRecord,
        responses=_DECLINED | _HELD | _errors(401, 409, 422),
    )
    async def create_payment(
        payment: CreatePayment, idempotency_key: IdempotencyKey, request: Request
    ) -> JSONResponse:
        problem = handlers.policy.limits.problem(payment.money)
        if problem is not None:
            errors = [FieldError(field="amount", message=problem)]
            return error_response(422, "invalid_request", f"invalid amount: {problem}", errors)
        with admission.admit():
            context = clients.context(request)
            return _reply(await handlers.take_payment(payment, idempotency_key, context))

    @router.get("", response_model=PaymentPage, responses=_errors(401, 422))
    async def list_payments(
        campaign_id: str | None = None,
        customer_id: str | None = None,
        status: PaymentStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: str | None = None,
    ) -> PaymentPage:
        query = PaymentQuery(limit, campaign_id, customer_id, status, cursor)
        try:
            page = await handlers.list_payments(query)
        except InvalidCursorError as error:
            raise _field_error("cursor", str(error)) from None
        return PaymentPage(data=page.items, next_cursor=page.next_cursor)

    @router.get("/{payment_id}", response_model=PaymentRecord, responses=_errors(401, 404))
    async def get_payment(payment_id: str) -> PaymentRecord:
        payment = await handlers.find_payment(payment_id)
        if payment is None:
            raise HTTPException(404, NO_SUCH_PAYMENT)
        return payment

    @router.post(
        "/{payment_id}/review",
        response_model=PaymentRecord,
        responses=_DECLINED | _errors(401, 404, 409, 422),
    )
    async def review_payment(
        payment_id: str, decision: ReviewDecision, idempotency_key: IdempotencyKey
    ) -> JSONResponse:
        """Approve (the payment is charged now) or decline a payment held in review."""
        with admission.admit():
            return _reply(await handlers.review(payment_id, decision, idempotency_key))

    @router.post(
        "/{payment_id}/refunds",
        status_code=201,
        response_model=PaymentRecord,
        responses=_errors(401, 402, 404, 409, 422),
    )
    async def refund_payment(
        payment_id: str, refund: RefundRequest, idempotency_key: IdempotencyKey
    ) -> JSONResponse:
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
