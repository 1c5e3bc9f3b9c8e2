"""The payment API's error envelope and the handlers that answer every error with it.

Every error answers ``{"error": {"type", "message", "errors": [{"field", "message"}]}}``,
naming the offending field or header so the client knows what to fix.
"""

from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.payment.api.guards import CardDataError
from services.payment.changes import PaymentNotFoundError
from services.payment.domain.fees import AmountOutOfLimitsError
from services.payment.domain.payment import IllegalTransitionError, RefundAmountError
from services.payment.idempotency import IdempotencyKeyInUseError, IdempotencyKeyReusedError
from shared.events.common import FieldError, field_errors


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


def handle_errors(app: FastAPI) -> None:
    """Answers request, guard, idempotency, lifecycle and HTTP errors with the envelope."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = field_errors(error.errors())
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

    @app.exception_handler(AmountOutOfLimitsError)
    async def out_of_limits(_: Request, error: AmountOutOfLimitsError) -> JSONResponse:
        errors = [FieldError(field="amount", message=str(error))]
        return error_response(422, "invalid_request", f"invalid amount: {error}", errors)

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
