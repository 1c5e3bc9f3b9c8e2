"""Whose fault a failure is, and how a letter too big for the broker is cut to fit."""

from __future__ import annotations

import json

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    RequestTimedOutError,
)
from pydantic import BaseModel, ValidationError
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from shared.events.dead_letters import DeadLetter, DeadLetterError
from shared.events.envelope import utc_now
from shared.messaging.dead_lettering import trimmed
from shared.messaging.failures import (
    Failure,
    InvalidHeaderError,
    UnprocessableEventError,
    classify,
    undecodable_headers,
)


def validation_error() -> ValidationError:
    class Named(BaseModel):
        name: str

    try:
        Named.model_validate({})
    except ValidationError as error:
        return error
    raise AssertionError("unreachable")


def transient(message: str, code: int | None = None) -> OperationFailure:
    error = OperationFailure(message, code)
    error._add_error_label("TransientTransactionError")
    return error


@pytest.mark.parametrize(
    "error",
    [
        AutoReconnect("connection closed"),
        NetworkTimeout("timed out"),
        NotPrimaryError("not primary"),
        ServerSelectionTimeoutError("no servers"),
        transient("aborted"),
        OperationFailure("WriteConflict", 112),
        OperationFailure("Write conflict during plan execution"),
        KafkaConnectionError("refused"),
        KafkaTimeoutError(),
        NodeNotReadyError(),
        RequestTimedOutError(),
    ],
    ids=repr,
)
def test_outages_are_the_infrastructures_fault(error):
    assert classify(error) is Failure.INFRASTRUCTURE


@pytest.mark.parametrize(
    "error",
    [
        validation_error(),
        UnprocessableEventError("no such campaign"),
        InvalidHeaderError({"x-trace": "has no value"}),
        json.JSONDecodeError("Expecting value", "nope", 0),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    ],
    ids=repr,
)
def test_messages_that_can_never_succeed_are_invalid(error):
    assert classify(error) is Failure.INVALID


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("bug"),
        DuplicateKeyError("E11000 duplicate key"),
        OperationFailure("command not found", 59),
        MessageSizeTooLargeError(),
        KeyError("missing"),
    ],
    ids=repr,
)
def test_anything_else_is_the_handler_failing(error):
    assert classify(error) is Failure.HANDLER


def test_undecodable_headers_are_named_with_what_is_wrong_never_their_value():
    headers = [("ok", b"fine"), ("empty", None), ("binary", b"\xff\xfesecret"), ("blank", b"")]

    problems = undecodable_headers(headers)

    assert problems == {"empty": "has no value", "binary": "is not UTF-8 text"}
    assert "secret" not in str(InvalidHeaderError(problems))


def letter(original: str, message: str = "1 validation error") -> DeadLetter:
    return DeadLetter(
        topic="orders",
        partition=1,
        offset=42,
        key="k",
        consumer_group="svc.orders",
        attempts=1,
        failed_at=utc_now(),
        error=DeadLetterError(type="ValidationError", message=message),
        original=original,
    )


@pytest.mark.parametrize("unit", ['"', "\\", "\n", "\x01", "é", "🎧", "a"], ids=repr)
def test_trimmed_letter_fits_keeps_the_longest_prefix_and_says_how_big_the_original_was(unit):
    original = unit * 50_000
    limit = 20_000

    cut = trimmed(letter(original), limit)

    encoded = cut.model_dump_json().encode()
    assert len(encoded) <= limit
    assert original.startswith(cut.original)
    one_more = cut.model_copy(update={"original": original[: len(cut.original) + 1]})
    assert len(one_more.model_dump_json().encode()) > limit
    assert cut.original_trimmed is True
    assert cut.original_size == len(original.encode())


def test_trimming_again_keeps_the_size_of_the_message_as_received():
    original = "x" * 50_000

    twice = trimmed(trimmed(letter(original), 30_000), 15_000)

    assert twice.original_size == 50_000
    assert len(twice.model_dump_json().encode()) <= 15_000


def test_an_error_too_big_to_fit_is_shortened_too():
    cut = trimmed(letter("x" * 1000, message="e" * 50_000), 16_000)

    assert len(cut.model_dump_json().encode()) <= 16_000
    assert cut.error.message.startswith("eee")
    assert cut.original.startswith("x")
