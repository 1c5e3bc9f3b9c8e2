"""Publishing a dead letter: it must arrive, and nothing about the letter may stall its partition.

- A letter too big for the broker has its ``original`` cut to fit, and says so
  (``original_trimmed``, ``original_size``); the whole message is still on its own topic.
- The dead-letter topic is created if missing, before every letter: one admin round trip,
  and letters are rare. Waiting for a publish to fail instead would cost the producer's
  request timeout on Kafka without topic auto-creation, and the embedded broker accepts
  records for a deleted topic without keeping them.
- Anything else (the broker unreachable, above all) is retried with backoff until it
  works: an outage is not the letter's fault, and the partition waits rather than lose it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity
from pydantic_core import to_json

from shared.events.dead_letters import DeadLetter
from shared.events.topics import dead_letter_topic
from shared.messaging.broker import ensure_topics
from shared.messaging.failures import is_infrastructure
from shared.retry import Backoff

log = logging.getLogger(__name__)

# Below both aiokafka's max_request_size and Kafka's message.max.bytes defaults (1 MiB),
# with room for the key and headers. A broker configured lower halves it until it fits.
LETTER_MAX_BYTES = 1_000_000
SMALLEST_LETTER_BYTES = 16_000
TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError)
# When even the error is too big to fit, its first words say enough.
ERROR_MESSAGE_CHARS = 2_000
FIELD_ERRORS_KEPT = 100


def trimmed(letter: DeadLetter, max_bytes: int) -> DeadLetter:
    """``letter`` with ``original`` cut to its longest prefix that keeps the JSON within
    ``max_bytes``; the error is shortened too when it alone would not fit."""
    size = letter.original_size or len(letter.original.encode())
    bare = letter.model_copy(
        update={"original": "", "original_trimmed": True, "original_size": size}
    )
    room = max_bytes - len(bare.model_dump_json().encode())
    if room < 0:
        error = bare.error.model_copy(
            update={
                "message": bare.error.message[:ERROR_MESSAGE_CHARS],
                "errors": bare.error.errors[:FIELD_ERRORS_KEPT],
            }
        )
        bare = bare.model_copy(update={"error": error})
        room = max_bytes - len(bare.model_dump_json().encode())
    kept = _longest_prefix_within(letter.original, room)
    return bare.model_copy(update={"original": letter.original[:kept]})


def _longest_prefix_within(text: str, room: int) -> int:
    """How many characters of ``text`` fit in ``room`` bytes once escaped as a JSON string.

    Escaping stretches characters unevenly (a quote takes two bytes, a control character
    six), so the length is searched for rather than computed.
    """
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(to_json(text[:middle])) - 2 <= room:
            low = middle
        else:
            high = middle - 1
    return low


@dataclass(frozen=True)
class DeadLetterPublisher:
    broker: KafkaBroker
    bootstrap_servers: str
    topic_partitions: int
    backoff: Backoff
    topic_replication_factor: int = 1
    security: BaseSecurity | None = None

    async def publish(self, letter: DeadLetter, key: bytes | None) -> DeadLetter:
        """Publish ``letter`` on its dead-letter topic; returns it as published (trimmed?)."""
        topic = dead_letter_topic(letter.topic)
        limit = LETTER_MAX_BYTES
        failures = 0
        while True:
            try:
                await ensure_topics(
                    bootstrap_servers=self.bootstrap_servers,
                    topics=(topic,),
                    partitions=self.topic_partitions,
                    replication_factor=self.topic_replication_factor,
                    security=self.security,
                )
                await self.broker.publish(
                    letter.model_dump_json().encode(),
                    topic,
                    key=key,
                    headers={"content-type": "application/json"},
                )
                return letter
            except Exception as error:
                if isinstance(error, TOO_LARGE) and limit >= SMALLEST_LETTER_BYTES:
                    log.warning("dead letter for %s too large, trimmed to %d bytes", topic, limit)
                    letter, limit = trimmed(letter, limit), limit // 2
                    continue
                failures += 1
                delay = self.backoff.delay(failures)
                log.log(
                    logging.WARNING if is_infrastructure(error) else logging.ERROR,
                    "dead letter for %s not published (attempt %d), retrying in %.1fs: %r",
                    topic,
                    failures,
                    delay,
                    error,
                )
                await asyncio.sleep(delay)
