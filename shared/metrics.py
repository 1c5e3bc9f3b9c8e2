"""What every service tells Prometheus, on ``/metrics`` next to its health routes.

FastStream's own middleware counts and times every message consumed and published
(``faststream_*``, labelled ``app_name`` = the service; its processing-duration histogram
is the handler latency). The rest carry the product's prefix, ``campaign_``:

- counters move where the thing happens (a dead letter published, a payment committed);
- gauges that describe a backlog (consumer lag, the outbox) are sampled when Prometheus
  scrapes, so they cost nothing between scrapes and are never older than the scrape. A
  sampler that fails or takes longer than ``SAMPLE_SECONDS`` leaves its gauges at their
  last value and is logged: the scrape itself still answers.

Each service runs as one process, so prometheus-client's default registry is the service's
registry; no multiprocess mode is needed. Labels stay few and bounded (service, topic,
partition, processor, status, outcome): never an id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, generate_latest
from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.messaging.outbox import PENDING
from shared.storage.mongo import Document
from shared.storage.unit_of_work import OUTBOX

log = logging.getLogger(__name__)

type Sampler = Callable[[], Awaitable[None]]

SAMPLE_SECONDS = 5.0

CONSUMER_LAG = Gauge(
    "campaign_consumer_lag_messages",
    "Messages on a partition this consumer has not read yet (highwater minus position, as "
    "of the consumer's last fetch).",
    ["service", "topic", "partition"],
)
DEAD_LETTERS = Counter(
    "campaign_dead_letters_total",
    "Messages published to their topic's dead-letter topic; reason: invalid (dead-lettered "
    "at once) or handler (failed every attempt).",
    ["service", "topic", "reason"],
)
OUTBOX_BACKLOG = Gauge(
    "campaign_outbox_backlog_messages",
    "Outbox rows committed but not yet published.",
    ["service"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "campaign_outbox_oldest_age_seconds",
    "Age of the oldest outbox row not yet published; 0 when none waits.",
    ["service"],
)
OUTBOX_PARKED = Gauge(
    "campaign_outbox_parked_messages",
    "Outbox rows set aside because they can never be published: each needs a person.",
    ["service"],
)


def broker_middleware(service: str) -> KafkaPrometheusMiddleware:
    """FastStream's consume and publish metrics for one service's broker."""
    return KafkaPrometheusMiddleware(registry=REGISTRY, app_name=service)


def metrics_route(samplers: Sequence[Sampler]) -> Route:
    """``GET /metrics``: run the samplers, then the registry in Prometheus' text format."""

    async def metrics(_: Request) -> Response:
        await asyncio.gather(*(_sample(sampler) for sampler in samplers))
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics)


async def _sample(sampler: Sampler) -> None:
    try:
        async with asyncio.timeout(SAMPLE_SECONDS):
            await sampler()
    except Exception as error:
        log.warning("metrics: %r not sampled, gauges keep their last values: %r", sampler, error)


class ConsumerLag:
    """Samples ``campaign_consumer_lag_messages`` for every partition assigned to one of the
    broker's consumers; a partition that moved to another replica stops being reported."""

    def __init__(self, service: str, broker: KafkaBroker) -> None:
        self._service = service
        self._broker = broker
        self._reported: set[tuple[str, str, str]] = set()

    def __repr__(self) -> str:
        return f"ConsumerLag({self._service})"

    async def __call__(self) -> None:
        seen: set[tuple[str, str, str]] = set()
        for subscriber in self._broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None:  # not started, or stopped
                continue
            for partition in consumer.assignment():
                lag = await _lag(consumer, partition)
                if lag is None:
                    continue
                labels = (self._service, partition.topic, str(partition.partition))
                CONSUMER_LAG.labels(*labels).set(lag)
                seen.add(labels)
        for gone in self._reported - seen:
            CONSUMER_LAG.remove(*gone)
        self._reported = seen


async def _lag(consumer: AIOKafkaConsumer, partition: TopicPartition) -> int | None:
    """None until the consumer has fetched the partition once, or once it is revoked."""
    try:
        highwater = consumer.highwater(partition)
        if highwater is None:
            return None
        position = await consumer.position(partition)
    except Exception:  # aiokafka asserts, or raises, on a partition revoked meanwhile
        return None
    return max(int(highwater) - int(position), 0)


class OutboxBacklog:
    """Samples the outbox gauges: two counts and the oldest pending row, each selecting on
    ``published_at`` (indexed), so a scrape reads about as many rows as are waiting."""

    def __init__(self, service: str, db: AsyncDatabase[Document]) -> None:
        self._service = service
        self._outbox = db[OUTBOX]

    def __repr__(self) -> str:
        return f"OutboxBacklog({self._service})"

    async def __call__(self) -> None:
        backlog = await self._outbox.count_documents(PENDING)
        parked = await self._outbox.count_documents({"parked_at": {"$ne": None}})
        waiting = self._outbox.find(PENDING, {"created_at": 1}).sort("created_at", 1)
        oldest = await waiting.to_list(1)
        age = 0.0
        if oldest and isinstance(created := oldest[0].get("created_at"), datetime):
            created = created if created.tzinfo else created.replace(tzinfo=UTC)
            age = max((datetime.now(UTC) - created).total_seconds(), 0.0)
        OUTBOX_BACKLOG.labels(self._service).set(backlog)
        OUTBOX_PARKED.labels(self._service).set(parked)
        OUTBOX_OLDEST_AGE.labels(self._service).set(age)
