"""The payment HTTP API: take a payment, read one back; OpenAPI at /docs.

Every error answers ``{"error": {"type", "message", "errors": [{"field", "message"}]}}``,
naming the offending field or header so the client knows what to fix.
"""

import hmac
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from services.payment.domain import CreatePayment, RequestContext
from services.payment.handlers import (
    IdempotencyKeyInUseError,
    IdempotencyKeyReusedError,
    PaymentHandlers,
)
from shared.events.common import FieldError
from shared.events.payments import PaymentRecord

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


def build_api(
    handlers: PaymentHandlers, api_key: SecretStr, extra_routes: list[BaseRoute]
) -> FastAPI:
    app = FastAPI(
        title="Payment service",
        version="1.0.0",
        description="Payments attributed to campaigns, routed to a processor by method.",
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

    router = APIRouter(prefix="/v1/payments", dependencies=[Depends(authorized)])

    @router.post(
        "",
        status_code=201,
        response_model=PaymentRecord,
        responses=_DECLINED | _errors(401, 409, 422),
    )
    async def create_payment(
        payment: CreatePayment,
        idempotency_key: Annotated[
            str,
            Header(
                alias=IDEMPOTENCY_KEY,
                min_length=1,
                max_length=255,
                description="Unique per payment; a retry with the same key is never charged twice.",
            ),
        ],
        request: Request,
    ) -> JSONResponse:
        context = RequestContext(
            ip_address=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
        try:
            answer = await handlers.take_payment(payment, idempotency_key, context)
        except IdempotencyKeyReusedError as error:
            return error_response(409, "idempotency_key_reused", str(error))
        except IdempotencyKeyInUseError as error:
            return error_response(409, "idempotency_key_in_use", str(error))
        headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
        return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)

    @router.get("/{payment_id}", response_model=PaymentRecord, responses=_errors(401, 404))
    async def get_payment(payment_id: str) -> PaymentRecord:
        payment = await handlers.find_payment(payment_id)
        if payment is None:
            raise HTTPException(404, f"no payment with id {payment_id!r}")
        return payment

    app.include_router(router)
    return app
