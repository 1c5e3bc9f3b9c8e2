"""What every service is made of, and how it starts and stops.

``Infrastructure`` bundles the parts each composition root builds the same way: the Kafka
broker with its delivery policy, the MongoDB database, the unit of work and the outbox
relay. ``serve`` runs a service until SIGTERM or SIGINT, then shuts down in the order that
loses nothing: stop taking HTTP requests, let the in-flight message finish and commit,
flush the outbox, close the connections, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
import uvloop
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.subscriber.usecase import DefaultSubscriber
from pydantic import BaseModel
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import CommandListener
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from shared.events.envelope import CloudEvent
from shared.messaging.batches import Apply, BatchConsumer
from shared.messaging.broker import build_broker, ensure_topics, list_topics
from shared.messaging.delivery import DeliveryPolicy, InvalidEventHook, RetryPolicy
from shared.messaging.outbox import OutboxRelay
from shared.messaging.security import kafka_security
from shared.metrics import ConsumerLag, OutboxBacklog, Sampler, broker_middleware, metrics_route
from shared.settings import ServiceSettings
from shared.storage.mongo import Document, connect, service_database
from shared.storage.unit_of_work import (
    Transaction,
    TransactionsUnavailableError,
    UnitOfWork,
    require_transactions,
)
from shared.tracing import trace_messages, traced_http

log = logging.getLogger(__name__)

type Hook = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class Infrastructure:
    name: str
    settings: ServiceSettings
    broker: KafkaBroker
    router: KafkaRouter
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    uow: UnitOfWork[Transaction]
    relay: OutboxRelay
    delivery: DeliveryPolicy
    invalid_event_hooks: dict[str, InvalidEventHook] = field(default_factory=dict)
    # Batch consumers keep their guarantees themselves, without the router's middleware.
    batch_router: KafkaRouter = field(default_factory=KafkaRouter)
    # Run on every scrape of /metrics; a service appends its own (shared/metrics.py).
    samplers: list[Sampler] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        name: str,
        settings: ServiceSettings,
        event_listeners: Sequence[CommandListener] = (),
    ) -> Infrastructure:
        security = kafka_security(settings)
        broker = build_broker(
            settings.kafka_bootstrap_servers,
            client_id=settings.instance_id or name,
            idempotent_producer=settings.kafka_idempotent_producer,
            security=security,
        )
        trace_messages(broker)
        broker.add_middleware(broker_middleware(name))
        mongo = connect(
            settings.mongodb_url,
            app_name=name,
            server_selection_timeout=settings.mongodb_server_selection_timeout_seconds,
            tls_ca_file=settings.mongodb_tls_ca_file,
            event_listeners=event_listeners,
        )
        db = service_database(mongo, name, settings.mongodb_db_prefix)
        uow = UnitOfWork(
            mongo,
            db,
            source=f"/services/{name}",
            transaction=Transaction,
            serialize=settings.serialize_transactions,
        )
        relay = OutboxRelay(
            db,
            broker,
            poll_interval=settings.outbox_poll_seconds,
            lease_seconds=settings.outbox_lease_seconds,
            renew_seconds=settings.outbox_lease_renew_seconds,
            existing_topics=functools.partial(
                list_topics, settings.kafka_bootstrap_servers, security
            ),
            exclusive=uow.exclusive,
            replica=settings.instance_id,
        )
        uow.on_commit = relay.notify
        hooks: dict[str, InvalidEventHook] = {}
        delivery = DeliveryPolicy(
            broker,
            consumer_group=name,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topic_partitions=settings.kafka_topic_partitions,
            topic_replication_factor=settings.kafka_topic_replication_factor,
            retry=RetryPolicy(
                max_attempts=settings.handler_max_attempts,
                base_delay=settings.handler_retry_base_seconds,
            ),
            invalid_event_hooks=hooks,
            security=security,
        )
        router = KafkaRouter(middlewares=[delivery])
        infra = cls(name, settings, broker, router, mongo, db, uow, relay, delivery, hooks)
        infra.samplers += [ConsumerLag(name, broker), OutboxBacklog(name, db)]
        return infra

    def subscriber(self, topic: str, *, description: str) -> DefaultSubscriber:
        """A consumer of ``topic`` with this service's delivery guarantees.

        One consumer group per subscription (``<service>.<topic>``), so a rebalance on one
        topic never pauses another; the earliest offset, so a new group misses nothing.
        """
        return self.router.subscriber(
            topic,
            group_id=f"{self.name}.{topic}",
            ack_policy=AckPolicy.ACK,
            auto_offset_reset="earliest",
            description=description,
        )

    def batch_subscriber[T: Transaction, E: BaseModel](
        self,
        topic: str,
        schema: type[E],
        uow: UnitOfWork[T],
        apply: Apply[T, E],
        *,
        description: str,
    ) -> None:
        """A consumer of ``topic`` applying batches of events with ``apply(tx, events)``, one
        transaction a batch (``shared/messaging/batches.py``); its own consumer group, as
        ``subscriber``'s."""
        BatchConsumer(self.delivery, uow, schema, apply).subscribe(
            self.batch_router,
            topic,
            group_id=f"{self.name}.{topic}",
            max_records=self.settings.batch_max_records,
            wait_ms=self.settings.batch_wait_ms,
            description=description,
        )

    def publisher(self, topic: str, schema: type[CloudEvent[Any]], *, description: str) -> None:
        """Declare an event this service emits (through its outbox) for the AsyncAPI catalogue."""
        self.router.publisher(topic, schema=schema, description=description)

    def finish(self) -> None:
        """Attach the router once every subscriber and publisher is declared."""
        self.broker.include_router(self.router)
        self.broker.include_router(self.batch_router)


@dataclass
class Service:
    infra: Infrastructure
    http_app: ASGIApp
    http_port: int
    on_startup: list[Hook] = field(default_factory=list)
    background: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)


def health_routes(infra: Infrastructure) -> list[BaseRoute]:
    """Liveness, readiness and the Prometheus metrics: what the platform asks every service."""

    async def live(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": infra.name})

    async def ready(_: Request) -> JSONResponse:
        checks = await readiness(infra)
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"service": infra.name, "checks": checks}, status_code=status)

    return [
        Route("/health/live", live),
        Route("/health/ready", ready),
        metrics_route(infra.samplers),
    ]


async def readiness(infra: Infrastructure) -> dict[str, bool]:
    try:
        await infra.mongo.admin.command("ping")
        mongo_ok = True
    except Exception:
        mongo_ok = False
    consumers = [getattr(s, "consumer", None) for s in infra.broker.subscribers]
    assigned = all(c is not None and c.assignment() for c in consumers)
    return {"mongodb": mongo_ok, "kafka_partitions_assigned": assigned}


def health_app(infra: Infrastructure) -> Starlette:
    return Starlette(routes=health_routes(infra))


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling: the service owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def start_broker(broker: KafkaBroker) -> None:
    """``broker.start()``, but joining every subscriber's consumer group at once.

    FastStream starts subscribers one after another, and each waits out the group
    coordinator's join delay; a service with five subscriptions would take five delays.
    """
    await broker.connect()
    await asyncio.gather(*(subscriber.start() for subscriber in broker.subscribers))
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True


async def serve(service: Service, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT, or until ``stop`` is set when one is given (tests)."""
    infra = service.infra
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

    await require_transactions(infra.db)
    await ensure_topics(
        infra.settings.kafka_bootstrap_servers,
        partitions=infra.settings.kafka_topic_partitions,
        replication_factor=infra.settings.kafka_topic_replication_factor,
        security=infra.delivery.security,
    )
    await infra.uow.ensure_indexes()
    for hook in service.on_startup:
        await hook()
    await start_broker(infra.broker)
    infra.relay.start()
    server = _Server(
        uvicorn.Config(
            traced_http(service.http_app),
            host=infra.settings.health_host,
            port=service.http_port,
            log_config=None,
            access_log=False,
            # The service decides which proxies it believes (payment: PAYMENT_TRUSTED_PROXIES);
            # uvicorn's own default would take X-Forwarded-For from any local peer.
            proxy_headers=False,
            http="httptools",
        )
    )
    tasks = [asyncio.create_task(server.serve(), name="http")]
    tasks += [
        asyncio.create_task(job(), name=f"background-{i}")
        for i, job in enumerate(service.background)
    ]
    # "started" means answering HTTP, not merely scheduled; uvicorn only offers a flag.
    while not server.started and not tasks[0].done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    log.info("%s started; http on port %d", infra.name, service.http_port)
    service.started.set()

    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in done - {stopped}:
        if task.exception():
            log.error("%s failed: %r; shutting down", task.get_name(), task.exception())
    await shutdown(service, server, tasks)


async def shutdown(
    service: Service, server: uvicorn.Server, tasks: list[asyncio.Task[None]]
) -> None:
    infra = service.infra
    log.info("%s stopping: finishing in-flight work", infra.name)
    server.should_exit = True
    for subscriber in infra.broker.subscribers:
        await subscriber.stop()  # waits for the in-flight message, whose offset is committed
    for task in tasks:
        if task.get_name() != "http":
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await infra.relay.stop()  # publishes what the last handlers wrote
    await infra.broker.stop()
    for hook in service.on_shutdown:
        await hook()
    await infra.mongo.close()
    log.info("%s stopped cleanly", infra.name)


def main[S: ServiceSettings](
    name: str, settings_cls: type[S], build: Callable[[S], Service]
) -> None:
    """A service's ``python -m`` entry point: settings, logging, then serve until signalled."""
    from shared.logs import configure_logging
    from shared.settings import ConfigurationError, load_settings, report_configuration_error
    from shared.tracing import configure_tracing

    settings = load_settings(settings_cls)
    configure_logging(name, settings.log_level, settings.log_format)
    try:
        configure_tracing(name)
        service = build(settings)
    except ConfigurationError as error:
        report_configuration_error(str(error))
        raise SystemExit(2) from None
    try:
        asyncio.run(serve(service), loop_factory=uvloop.new_event_loop)
    except TransactionsUnavailableError as error:
        report_configuration_error(f"MONGODB_URL: {error}")
        raise SystemExit(2) from None
