"""At-least-once delivery: bounded retries with backoff, then a dead-letter topic.

Subscribers use ``AckPolicy.ACK``: the offset is committed after this middleware returns,
which it does only once the handler succeeded (its writes are committed) or the message
was dead-lettered. It never lets an exception out, because FastStream's ``ACK`` would
commit a failed message too; a crash or shutdown mid-handler commits nothing and the
message is read again.

Invalid messages (schema validation, ``UnprocessableEventError``) are not retried: they go
straight to ``<topic>.dlq``. A service can register a hook per topic that runs first, to
tell the sender why (the planner answers an invalid request with ``campaign.rejected``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from pydantic import ValidationError

from shared.events.common import FieldError, field_errors
from shared.events.dead_letters import DeadLetter, DeadLetterError
from shared.events.envelope import utc_now
from shared.events.topics import dead_letter_topic
from shared.storage.unit_of_work import AlreadyProcessedError

log = logging.getLogger(__name__)


class UnprocessableEventError(Exception):
    """An event that can never succeed, whatever the number of attempts."""

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


type InvalidEventHook = Callable[[bytes, list[FieldError]], Awaitable[None]]


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, capped; ``max_attempts`` includes the first."""

    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass
class DeliveryPolicy:
    """The middleware factory a service installs on its router."""

    broker: KafkaBroker
    consumer_group: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    invalid_event_hooks: Mapping[str, InvalidEventHook] = field(default_factory=dict)

    def __call__(self, msg: Any, /, **kwargs: Any) -> _Delivery:
        return _Delivery(msg, policy=self, **kwargs)

    async def dead_letter(
        self, msg: StreamMessage[Any], error: BaseException, attempts: int
    ) -> None:
        record = msg.raw_message
        topic: str = record.topic
        errors = _errors_of(error)
        hook = self.invalid_event_hooks.get(topic)
        if hook and (errors or isinstance(error, UnprocessableEventError | json.JSONDecodeError)):
            await _until_done(lambda: hook(msg.body, errors), self.retry, "invalid-event hook")
        letter = DeadLetter(
            topic=topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None,
            consumer_group=f"{self.consumer_group}.{topic}",
            attempts=attempts,
            failed_at=utc_now(),
            error=DeadLetterError(type=type(error).__name__, message=str(error), errors=errors),
            original=msg.body.decode(errors="replace"),
        )
        await _until_done(
            lambda: self.broker.publish(
                letter.model_dump_json().encode(),
                dead_letter_topic(topic),
                key=record.key,
                headers={"content-type": "application/json"},
            ),
            self.retry,
            "dead-letter publish",
        )
        log.error(
            "dead-lettered %s[%s]@%s after %d attempt(s): %s",
            topic,
            record.partition,
            record.offset,
            attempts,
            error,
        )


def _errors_of(error: BaseException) -> list[FieldError]:
    if isinstance(error, ValidationError):
        return field_errors(error.errors(include_url=False, include_input=False))
    if isinstance(error, UnprocessableEventError):
        return error.errors
    if isinstance(error, json.JSONDecodeError | UnicodeDecodeError):
        return [FieldError(field="(message)", message="not valid JSON")]
    return []


def _is_permanent(error: BaseException) -> bool:
    return isinstance(
        error, ValidationError | UnprocessableEventError | json.JSONDecodeError | UnicodeDecodeError
    )


async def _until_done(action: Callable[[], Awaitable[Any]], retry: RetryPolicy, what: str) -> None:
    """Keep trying ``action``: losing a message is worse than blocking its partition."""
    attempt = 0
    while True:
        attempt += 1
        try:
            await action()
            return
        except Exception:
            log.exception("%s failed (attempt %d); retrying", what, attempt)
            await asyncio.sleep(retry.delay(min(attempt, 8)))


class _Delivery(BaseMiddleware):
    def __init__(self, msg: Any, /, *, policy: DeliveryPolicy, **kwargs: Any) -> None:
        super().__init__(msg, **kwargs)
        self.policy = policy

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        retry = self.policy.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call_next(msg)
            except AlreadyProcessedError:
                log.info("skipping redelivered event on %s", msg.raw_message.topic)
                return None
            except Exception as error:
                if _is_permanent(error) or attempt >= retry.max_attempts:
                    await self.policy.dead_letter(msg, error, attempt)
                    return None
                delay = retry.delay(attempt)
                log.warning(
                    "handler failed on %s (attempt %d of %d), retrying in %.2fs: %r",
                    msg.raw_message.topic,
                    attempt,
                    retry.max_attempts,
                    delay,
                    error,
                )
                await asyncio.sleep(delay)
