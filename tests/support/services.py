"""Run services in the test's event loop against the real broker and database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from shared.runtime import Service, serve
from shared.settings import DEV_ONLY_ANALYTICS_API_KEY, ServiceSettings
from tests.support.infrastructure import TestInfrastructure, free_port

# What the reporting reads take in local mode: analytics, decision logs, the customer count.
REPORTS_AUTH = {"Authorization": f"Bearer {DEV_ONLY_ANALYTICS_API_KEY}"}


def settings_for[S: ServiceSettings](
    cls: type[S], infra: TestInfrastructure, **overrides: Any
) -> S:
    port_fields = [name for name in cls.model_fields if name.endswith("_port")]
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": infra.kafka,
        "mongodb_url": infra.mongodb,
        "mongodb_db_prefix": infra.db_prefix,
        "handler_retry_base_seconds": 0.05,
        "outbox_poll_seconds": 0.5,
        "log_format": "text",
        **{name: free_port() for name in port_fields},
    }
    return cls(**(values | overrides))


@contextlib.asynccontextmanager
async def running[S: ServiceSettings](
    build: Callable[[S], Service], settings: S
) -> AsyncIterator[Service]:
    """The service, started and ready; stopped as SIGTERM would stop it on exit."""
    service = build(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(service, stop))
    started = asyncio.create_task(service.started.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED, timeout=60)
    if task.done():
        task.result()
    assert service.started.is_set(), f"{service.infra.name} did not start within 60s"
    try:
        yield service
    finally:
        stop.set()
        await task


@contextlib.asynccontextmanager
async def running_all(
    services: list[tuple[Callable[[Any], Service], ServiceSettings]],
) -> AsyncIterator[list[Service]]:
    """Several services started together (their group joins overlap), stopped in reverse."""
    async with contextlib.AsyncExitStack() as stack:
        entered = await asyncio.gather(
            *(stack.enter_async_context(running(build, settings)) for build, settings in services)
        )
        yield list(entered)
