"""The payment HTTP API: take, list, read, review and refund payments; OpenAPI at /docs.

Every error answers ``{"error": {"type", "message", "errors": [{"field", "message"}]}}``,
naming the offending field or header so the client knows what to fix.
"""

import contextlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from services.payment.card_data import body_contains_card_data
from services.payment.client_ip import client_ip, is_trusted_proxy
from services.payment.domain import CreatePayment, RequestContext
from services.payment.handlers import (
    PaymentHandlers,
    PaymentNotFoundError,
    RefundRequest,
    ReviewDecision,
)
from services.payment.idempotency import (
    Answer,
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
)
from services.payment.lifecycle import IllegalTransitionError, RefundAmountError
from services.payment.repository import InvalidCursorError, PaymentQuery, StaleRecordError
from shared.events.common import FieldError
from shared.events.payments import PaymentRecord, PaymentStatus

IDEMPOTENCY_KEY = "Idempotency-Key"
_REQUEST_PARTS = {"body", "header", "path", "query"}


class ErrorDetail(BaseModel):
    type: str = Field(examples=["invalid_request"])
    message: str
    errors: list[FieldError] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_response(
    status: int,
    type_: str,
    message: str,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    detail = ErrorDetail(type=type_, message=message, errors=errors or [])
    return JSONResponse(
        ErrorBody(error=detail).model_dump(mode="json"), status_code=status, headers=headers
    )


def field_errors(error: RequestValidationError) -> list[FieldError]:
    """Pydantic's errors as dotted fields: ``amount``, ``attribution.channel``, the header."""
    found = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        path = loc[1:] if len(loc) > 1 and loc[0] in _REQUEST_PARTS else loc
        message = str(item["msg"]).removeprefix("Value error, ")
        found.append(FieldError(field=".".join(path), message=message))
    return found


def _handle_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = field_errors(error)
        fields = ", ".join(e.field for e in errors)
        return error_response(422, "invalid_request", f"invalid {fields}", errors)

    @app.exception_handler(CardDataError)
    async def card_data(_: Request, error: CardDataError) -> JSONResponse:
        errors = [
            FieldError(field=field, message="card data is not accepted; send a processor token")
            for field in error.fields
        ]
        message = "card numbers and security codes are never accepted; send a processor token"
        return error_response(422, "card_data_refused", message, errors)

    @app.exception_handler(IdempotencyKeyReusedError)
    async def key_reused(_: Request, error: IdempotencyKeyReusedError) -> JSONResponse:
        return error_response(409, "idempotency_key_reused", str(error))

    @app.exception_handler(IdempotencyKeyInUseError)
    async def key_in_use(_: Request, error: IdempotencyKeyInUseError) -> JSONResponse:
        return error_response(409, "idempotency_key_in_use", str(error))

    @app.exception_handler(IllegalTransitionError)
    async def illegal(_: Request, error: IllegalTransitionError) -> JSONResponse:
        return error_response(409, "illegal_transition", str(error))

    @app.exception_handler(StaleRecordError)
    async def stale(_: Request, error: StaleRecordError) -> JSONResponse:
        return error_response(409, "concurrent_change", f"{error}; retry the request")

    @app.exception_handler(RefundAmountError)
    async def refund_amount(_: Request, error: RefundAmountError) -> JSONResponse:
        errors = [FieldError(field="amount", message=str(error))]
        return error_response(422, "invalid_request", f"invalid amount: {error}", errors)

    @app.exception_handler(PaymentNotFoundError)
    async def not_found(_: Request, error: PaymentNotFoundError) -> JSONResponse:
        return error_response(404, "not_found", str(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        type_ = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_")
        return error_response(error.status_code, type_, str(error.detail), headers=error.headers)


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


@dataclass(frozen=True)
class ClientPolicy:
    """How a request's origin is read: which proxies' X-Forwarded-For and country to trust."""

    trusted_proxies: list[IPv4Network | IPv6Network]
    country_header: str | None = None

    def context(self, request: Request) -> RequestContext:
        peer = request.client.host if request.client else None
        ip = client_ip(peer, request.headers.get("x-forwarded-for"), self.trusted_proxies)
        country = None
        if self.country_header and is_trusted_proxy(peer, self.trusted_proxies):
            country = (request.headers.get(self.country_header) or "").upper()[:2] or None
        return RequestContext(
            ip_address=ip, user_agent=request.headers.get("user-agent"), ip_country=country
        )


IdempotencyKey = Annotated[
    str,
    Header(
        alias=IDEMPOTENCY_KEY,
        min_length=1,
        max_length=255,
        description="Unique per operation; a retry with the same key replays the first answer "
        "and never charges or refunds twice.",
    ),
]


MAX_BODY_BYTES = 64 * 1024  # a payment request is well under 1 KiB


async def refuse_card_data(request: Request) -> None:
    """Card numbers and security codes never enter: refused before validation, so the value
    reaches no error message, log, record or event. Oversized bodies are refused unread."""
    if request.method != "POST":
        return
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
    found = body_contains_card_data(body)
    if found:
        raise CardDataError(found)


class CardDataError(Exception):
    def __init__(self, fields: list[str]) -> None:
        super().__init__("card data")
        self.fields = fields


class Admission:
    """At most ``limit`` payment operations in flight; the rest are told to come back.

    A payment service that queues without bound answers everyone late; one that sheds the
    excess answers most clients on time and tells the others, with 503 and Retry-After,
    when to retry (with the same Idempotency-Key, so nothing is charged twice).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._in_flight = 0

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        if self._in_flight >= self._limit:
            raise HTTPException(
                503,
                f"{self._limit} payment operations are in progress; retry shortly with the "
                "same Idempotency-Key",
                headers={"Retry-After": "1"},
            )
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1


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
    )
    _handle_errors(app)
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
        prefix="/v1/payments", dependencies=[Depends(authorized), Depends(refuse_card_data)]
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
            raise HTTPException(404, f"no payment with id {payment_id!r}")
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
