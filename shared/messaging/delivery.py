"""At-least-once delivery: outages waited out, failing handlers retried, then a dead-letter topic.

Subscribers use ``AckPolicy.ACK``: the offset is committed after this middleware returns,
which it does only once the handler succeeded (its writes are committed) or the message
was dead-lettered. It never lets an exception out, because FastStream's ``ACK`` would
commit a failed message too; a crash or shutdown mid-handler commits nothing and the
message is read again.

What happens after a failure depends on whose fault it is (``failures.py``):

- **An outage** (database or broker unreachable, a transient conflict) is never the
  message's fault. The handler runs again with capped backoff for as long as the outage
  lasts, a warning each time, the message's partition paused meanwhile; these runs do not
  count against ``HANDLER_MAX_ATTEMPTS``, so an outage never dead-letters anything.
- **An invalid message** (schema, JSON, ``UnprocessableEventError``, a header that is
  not text) is dead-lettered at once. A service can register a hook per topic that runs
  first, to tell the sender why (the planner answers with ``campaign.rejected``).
- **A failing handler** is retried until ``HANDLER_MAX_ATTEMPTS`` failures, then the
  message is dead-lettered.

An outage longer than aiokafka's ``max_poll_interval_ms`` (5 minutes by default): the
consumer has not polled for that long, so aiokafka leaves the group and the partition goes
to another member, or back to this one when it next polls, from the last committed
offset: this very message. Nothing is lost, because this middleware still returns only
after the handler succeeded. Nothing is applied twice: both runs go through the unit of
work, whose processed-event id lets one apply and the other find it done. The commit after
the stale run is refused by the group (UnknownMemberId), or, if no member is left, commits
offsets whose messages were all processed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.message import StreamMessage
from faststream.security import BaseSecurity

from shared.events.common import FieldError
from shared.events.dead_letters import DeadLetter, DeadLetterError
from shared.events.envelope import utc_now
from shared.logs import correlation_id
from shared.messaging.dead_lettering import DeadLetterPublisher
from shared.messaging.failures import (
    Failure,
    InvalidHeaderError,
    UnprocessableEventError,
    classify,
    errors_of,
    undecodable_headers,
)
from shared.messaging.retries import Attempts, RetryPolicy
from shared.metrics import DEAD_LETTERS
from shared.storage.unit_of_work import AlreadyProcessedError

__all__ = [
    "DeliveryPolicy",
    "InvalidEventHook",
    "PausedPartitions",
    "RetryPolicy",
    "UnprocessableEventError",
]

log = logging.getLogger(__name__)

type InvalidEventHook = Callable[[bytes, list[FieldError]], Awaitable[None]]


@dataclass
class DeliveryPolicy:
    """The middleware factory a service installs on its router."""

    broker: KafkaBroker
    consumer_group: str
    bootstrap_servers: str
    topic_partitions: int = 3
    topic_replication_factor: int = 1
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    invalid_event_hooks: Mapping[str, InvalidEventHook] = field(default_factory=dict)
    security: BaseSecurity | None = None

    def __call__(self, msg: Any, /, **kwargs: Any) -> _Delivery:
        return _Delivery(msg, policy=self, **kwargs)

    async def dead_letter(self, msg: StreamMessage[Any], error: Exception, attempts: int) -> None:
        await self.dead_letter_record(msg.raw_message, error, attempts)

    async def dead_letter_record(
        self, record: ConsumerRecord[Any, Any], error: Exception, attempts: int
    ) -> None:
        """Publish ``record`` on its topic's dead-letter topic, saying why and after how many
        attempts; the topic's invalid-event hook runs first for an invalid message."""
        topic: str = record.topic
        body: bytes = record.value or b""
        errors = errors_of(error)
        hook = self.invalid_event_hooks.get(topic)
        if hook and classify(error) is Failure.INVALID:
            await self._tell_sender(hook, body, errors)
        letter = DeadLetter(
            topic=topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None,
            consumer_group=f"{self.consumer_group}.{topic}",
            attempts=attempts,
            failed_at=utc_now(),
            error=DeadLetterError(type=type(error).__name__, message=str(error), errors=errors),
            original=body.decode(errors="replace"),
        )
        letters = DeadLetterPublisher(
            self.broker,
            self.bootstrap_servers,
            self.topic_partitions,
            self.retry.backoff(Failure.INFRASTRUCTURE),
            self.topic_replication_factor,
            self.security,
        )
        published = await letters.publish(letter, record.key)
        DEAD_LETTERS.labels(self.consumer_group, topic, classify(error).value).inc()
        log.error(
            "dead-lettered %s[%s]@%s after %d failed attempt(s)%s: %s",
            topic,
            record.partition,
            record.offset,
            attempts,
            " (original trimmed to fit)" if published.original_trimmed else "",
            error,
        )

    async def _tell_sender(
        self, hook: InvalidEventHook, body: bytes, errors: list[FieldError]
    ) -> None:
        """Run the topic's invalid-event hook through any outage; a hook failing on its own
        is given up after ``max_attempts``, and the letter still says why."""
        attempts = Attempts(self.retry, "invalid-event hook")
        while True:
            try:
                return await hook(body, errors)
            except Exception as error:
                if not await attempts.wait_after(error):
                    log.exception("invalid-event hook gave up; dead-lettering without it")
                    return


class PausedPartitions:
    """The partitions of a message (or of a batch), paused while it waits out an outage,
    so that nothing more is fetched for them; resumed when the message is done."""

    def __init__(self, msg: StreamMessage[Any]) -> None:
        consumer = msg.consumer if isinstance(msg, KafkaMessage) else None
        self._consumer = consumer if isinstance(consumer, AIOKafkaConsumer) else None
        records = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
        self._partitions = {TopicPartition(r.topic, r.partition) for r in records}
        self._paused: set[TopicPartition] = set()

    def hold(self) -> None:
        # A rebalance may have taken a partition away: only an assigned one can pause.
        if self._consumer and not self._paused:
            self._paused = self._partitions & self._consumer.assignment()
            self._consumer.pause(*self._paused)

    def release(self) -> None:
        if self._consumer and self._paused:
            self._consumer.resume(*(self._paused & self._consumer.assignment()))
        self._paused = set()


class _Delivery(BaseMiddleware):
    def __init__(self, msg: Any, /, *, policy: DeliveryPolicy, **kwargs: Any) -> None:
        super().__init__(msg, **kwargs)
        self.policy = policy
        self.bad_headers: dict[str, str] = {}

    async def on_receive(self) -> None:
        # FastStream decodes every header before the handler, and a failure there would
        # bypass this middleware and be acknowledged: the message silently dropped. Set
        # aside what cannot be decoded, so the message gets here and is dead-lettered.
        if isinstance(self.msg, ConsumerRecord):
            self.bad_headers = undecodable_headers(self.msg.headers)
            if self.bad_headers:
                self.msg.headers = [h for h in self.msg.headers if h[0] not in self.bad_headers]

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        token = correlation_id.set(await _correlation_of(msg))
        try:
            if self.bad_headers:
                await self.policy.dead_letter(msg, InvalidHeaderError(self.bad_headers), 0)
                return None
            return await self._deliver(call_next, msg)
        finally:
            correlation_id.reset(token)

    async def _deliver(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        record = msg.raw_message
        partitions = PausedPartitions(msg)
        what = f"handler of {record.topic}[{record.partition}]@{record.offset}"
        attempts = Attempts(self.policy.retry, what, on_outage=partitions.hold)
        try:
            while True:
                try:
                    return await call_next(msg)
                except AlreadyProcessedError:
                    log.info("skipping redelivered event on %s", record.topic)
                    return None
                except Exception as error:
                    if not await attempts.wait_after(error):
                        await self.policy.dead_letter(msg, error, attempts.failed)
                        return None
        finally:
            partitions.release()


async def _correlation_of(msg: StreamMessage[Any]) -> str | None:
    """The consumed CloudEvent's ``correlationid``, else its ``subject``."""
    try:
        event = await msg.decode()  # cached: the handler does not decode it again
    except Exception:
        return None  # the handler meets the same error, and the message is dead-lettered
    if not isinstance(event, dict):
        return None
    found = event.get("correlationid") or event.get("subject")
    return found if isinstance(found, str) else None
