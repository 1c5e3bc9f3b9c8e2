"""At-least-once delivery for a topic consumed in batches: one transaction per batch.

A consumer whose work on each event is small and independent (a per-customer projection)
spends its time on transactions, not on the work. ``Infrastructure.batch_subscriber``
reads up to ``max_records`` messages at once (FastStream's batch subscriber, lingering
``batch_timeout_ms`` for more) and hands them to a ``BatchConsumer``, which keeps the
guarantees of ``delivery.py`` batch-wide:

- **Each message is decoded alone.** One that cannot be (JSON, schema, a header that is
  not text) is dead-lettered at once with the same letter as a single message gets; the
  rest go on.
- **One transaction applies the batch**: the events' processed marks go in together
  (``Transaction.first_deliveries``), events marked before are dropped, and the
  consumer's ``apply`` writes what is left in bulk. A redelivered batch applies nothing
  twice, and an event repeated inside a batch is applied once.
- **An outage** retries the whole batch with the infrastructure backoff, its partitions
  paused, for as long as it lasts.
- **Any other failure** may be one event's fault: the batch's events are then applied one
  transaction each, with the single-message retries, so that only the event that keeps
  failing is dead-lettered.

The offsets are committed after the consumer returns (``AckPolicy.ACK``), which it does
only once every event of the batch is applied or dead-lettered; a crash commits nothing
and the whole batch is read again, which the processed marks make harmless.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.message import StreamMessage
from pydantic import BaseModel, PlainValidator

from shared.events.envelope import CloudEvent
from shared.logs import correlation_id
from shared.messaging.delivery import DeliveryPolicy, PausedPartitions
from shared.messaging.failures import Failure, InvalidHeaderError, classify, undecodable_headers
from shared.messaging.retries import Attempts
from shared.messaging.trace_context import consumed_in_batch
from shared.storage.unit_of_work import AlreadyProcessedError, Transaction, UnitOfWork

log = logging.getLogger(__name__)

type Apply[T: Transaction, E: BaseModel] = Callable[[T, list[CloudEvent[E]]], Awaitable[None]]
type Position = tuple[str, int, int]
type Delivered[E: BaseModel] = tuple[ConsumerRecord[Any, Any], CloudEvent[E]]


class BatchConsumer[T: Transaction, E: BaseModel]:
    """Applies batches of ``CloudEvent[schema]`` with ``apply(tx, events)``: ``events`` are
    in the order read, none seen before; ``tx`` commits them with their processed marks."""

    def __init__(
        self, policy: DeliveryPolicy, uow: UnitOfWork[T], schema: type[E], apply: Apply[T, E]
    ) -> None:
        self._policy = policy
        self._uow = uow
        self._event_type = CloudEvent[schema]  # type: ignore[valid-type]
        self._apply = apply
        self._bad_headers: dict[Position, dict[str, str]] = {}

    def subscribe(
        self,
        router: KafkaRouter,
        topic: str,
        *,
        group_id: str,
        max_records: int,
        wait_ms: int,
        description: str,
    ) -> None:
        """Consume ``topic`` on ``router`` in batches of up to ``max_records``, waiting
        ``wait_ms`` for a first message; the offsets committed once a batch is done."""

        async def consume_batch(batch: StreamMessage[Any]) -> None:
            await self.consume(batch)

        # FastStream validates a handler's parameter: this one lets the batch through as
        # read (``_as_read``), for ``consume`` decodes each message alone, and is typed with
        # the event so that the AsyncAPI document names what each message holds.
        consume_batch.__annotations__ = {
            "batch": Annotated[self._event_type, PlainValidator(lambda batch: batch)],
            "return": None,
        }
        consume_batch.__name__ = getattr(self._apply, "__name__", consume_batch.__name__)
        router.subscriber(
            topic,
            group_id=group_id,
            ack_policy=AckPolicy.ACK,
            auto_offset_reset="earliest",
            batch=True,
            max_records=max_records,
            batch_timeout_ms=wait_ms,
            parser=self.parse,
            decoder=_as_read,
            description=description,
        )(consume_batch)

    async def parse(
        self,
        records: tuple[ConsumerRecord[Any, Any], ...],
        parse_batch: Callable[[tuple[ConsumerRecord[Any, Any], ...]], Awaitable[Any]],
    ) -> Any:
        """FastStream's batch parser, once the headers it cannot decode are set aside: its
        failure would bypass ``consume`` and the batch be acknowledged, every message in it
        dropped. What was set aside is kept for ``consume``, which runs next (a subscriber
        parses and consumes one batch at a time)."""
        self._bad_headers = {}
        for record in records:
            if problems := undecodable_headers(record.headers):
                self._bad_headers[_position(record)] = problems
                record.headers = [h for h in record.headers if h[0] not in problems]
        return await parse_batch(records)

    async def consume(self, batch: StreamMessage[Any]) -> None:
        delivered = [d for record in batch.raw_message if (d := await self._decoded(record))]
        if not delivered:
            return
        partitions = PausedPartitions(batch)
        try:
            if not await self._applied_together(delivered, partitions):
                for one in delivered:
                    await self._apply_alone(one, partitions)
        finally:
            partitions.release()

    async def _decoded(self, record: ConsumerRecord[Any, Any]) -> Delivered[E] | None:
        if problems := self._bad_headers.get(_position(record)):
            await self._policy.dead_letter_record(record, InvalidHeaderError(problems), 0)
            return None
        try:
            event = self._event_type.model_validate(json.loads(record.value or b""))
        except ValueError as error:  # JSON, UTF-8 or the schema: never to succeed
            await self._policy.dead_letter_record(record, error, 1)
            return None
        return record, consumed_in_batch(event, record.topic)

    async def _applied_together(
        self, delivered: list[Delivered[E]], partitions: PausedPartitions
    ) -> bool:
        """Apply the batch in one transaction through any outage; False when it failed
        otherwise, and its events are to be applied one by one."""
        first, last = delivered[0][0], delivered[-1][0]
        what = f"batch of {len(delivered)} on {first.topic} up to offset {last.offset}"
        attempts = Attempts(self._policy.retry, what, on_outage=partitions.hold)
        while True:
            try:
                async with self._uow as tx:
                    fresh = await tx.first_deliveries([event for _, event in delivered])
                    if fresh:
                        await self._apply(tx, fresh)
                return True
            except Exception as error:
                if classify(error) is not Failure.INFRASTRUCTURE:
                    log.warning("%s failed, applying its events one by one: %r", what, error)
                    return False
                await attempts.wait_after(error)

    async def _apply_alone(self, delivered: Delivered[E], partitions: PausedPartitions) -> None:
        record, event = delivered
        what = f"handler of {record.topic}[{record.partition}]@{record.offset}"
        attempts = Attempts(self._policy.retry, what, on_outage=partitions.hold)
        token = correlation_id.set(event.correlationid or event.subject)
        try:
            while True:
                try:
                    async with self._uow.consuming(event) as tx:
                        await self._apply(tx, [event])
                    return
                except AlreadyProcessedError:
                    return
                except Exception as error:
                    if not await attempts.wait_after(error):
                        await self._policy.dead_letter_record(record, error, attempts.failed)
                        return
        finally:
            correlation_id.reset(token)


async def _as_read(batch: StreamMessage[Any]) -> StreamMessage[Any]:
    """The batch as read, for ``consume``, which decodes each message alone."""
    return batch


def _position(record: ConsumerRecord[Any, Any]) -> Position:
    return record.topic, record.partition, record.offset
