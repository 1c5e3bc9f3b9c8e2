"""Whose fault a failure is: the infrastructure's, the message's, or the handler's.

The delivery policy treats each differently, and this is the one place that decides:

- **infrastructure**: the database or the broker is unreachable, timing out, electing a
  primary, or reports a transient transaction conflict. Nothing is wrong with the message;
  it is retried until the infrastructure is back and never dead-lettered for it.
- **invalid**: the message can never succeed (schema, JSON, a header that is not text,
  ``UnprocessableEventError``). It is dead-lettered at once.
- **handler**: anything else, the handler failing on this message. Retried a bounded
  number of times, then dead-lettered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum

from aiokafka.errors import KafkaError, KafkaTimeoutError
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure

from shared.events.common import FieldError, field_errors
from shared.storage.unit_of_work import WriteConflictError, is_write_conflict


class Failure(StrEnum):
    INFRASTRUCTURE = "infrastructure"
    INVALID = "invalid"
    HANDLER = "handler"


class UnprocessableEventError(Exception):
    """An event that can never succeed, whatever the number of attempts."""

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class InvalidHeaderError(UnprocessableEventError):
    """A Kafka header without a value, or whose value is not UTF-8 text.

    Its message names the headers, never their values: a header may carry a secret.
    """

    def __init__(self, problems: dict[str, str]) -> None:
        errors = [FieldError(field=f"header {name}", message=why) for name, why in problems.items()]
        super().__init__(
            "; ".join(f"header {e.field.removeprefix('header ')!r}: {e.message}" for e in errors),
            errors,
        )


def classify(error: BaseException) -> Failure:
    if is_infrastructure(error):
        return Failure.INFRASTRUCTURE
    if isinstance(
        error, ValidationError | UnprocessableEventError | json.JSONDecodeError | UnicodeDecodeError
    ):
        return Failure.INVALID
    return Failure.HANDLER


def is_infrastructure(error: BaseException) -> bool:
    if isinstance(error, ConnectionFailure):
        return True  # AutoReconnect, NetworkTimeout, NotPrimaryError, ServerSelectionTimeout...
    if isinstance(error, WriteConflictError) or is_write_conflict(error):
        return True  # another transaction won: contention, not the message's fault
    if isinstance(error, KafkaError):
        # aiokafka marks the errors a retry can cure; its own timeout is one of them.
        return bool(error.retriable) or isinstance(error, KafkaTimeoutError)
    return False


def errors_of(error: BaseException) -> list[FieldError]:
    """What is wrong with an invalid message, field by field; empty for other failures."""
    if isinstance(error, ValidationError):
        return field_errors(error.errors(include_url=False, include_input=False))
    if isinstance(error, UnprocessableEventError):
        return error.errors
    if isinstance(error, json.JSONDecodeError | UnicodeDecodeError):
        return [FieldError(field="(message)", message="not valid JSON")]
    return []


def undecodable_headers(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """The headers FastStream could not decode, by name, with what is wrong with each."""
    problems = {}
    for name, value in headers:
        if value is None:
            problems[name] = "has no value"
            continue
        try:
            value.decode()
        except UnicodeDecodeError:
            problems[name] = "is not UTF-8 text"
    return problems
