"""The payment service run for a test, and everything it leaves behind to search.

``payment_api`` runs the service in the test's event loop (as ``running`` does) and hands
back a client that already holds the bearer key; ``payment_api_in_thread`` runs it in a
thread with its own loop, for synchronous clients such as schemathesis's. ``raw_database``
is its database as stored. The readers return what a leak would hide in: every raw
document of every collection of the payment database, every record on every ``payment.*``
topic, and every log record captured.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import httpx
import pytest
from bson import json_util
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.payment.app import build
from services.payment.settings import PaymentSettings
from shared.messaging.broker import list_topics
from shared.messaging.topic_reading import records_up_to_now
from shared.runtime import Service, serve
from shared.settings import DEV_ONLY_PAYMENT_API_KEY
from tests.support.infrastructure import TestInfrastructure
from tests.support.services import running, settings_for

AUTH = {"Authorization": f"Bearer {DEV_ONLY_PAYMENT_API_KEY}"}
# Every payment of a test comes from one address, often with one test card: velocity alone
# would hold or block them. Tests that are not about risk turn its holds off.
WITHOUT_RISK_HOLDS: dict[str, Any] = {
    "payment_risk_review_threshold": 1.0,
    "payment_risk_block_threshold": 1.0,
}
# The test runs reconciliation's rounds itself: the background job never ticks while it
# does, every payment is due at once, and a request for a key in flight waits half a second.
ROUNDS_RUN_BY_THE_TEST: dict[str, Any] = {
    "payment_idempotency_wait_seconds": 0.5,
    "payment_reconciliation_interval_seconds": 3600,
    "payment_reconciliation_after_seconds": 0,
}
PAYMENT_TOPICS = "payment."

type RawDatabase = AsyncDatabase[dict[str, Any]]


def idempotency_key() -> dict[str, str]:
    """A fresh key. A UUID, because the API refuses a key holding a card number, and a
    clock's 19 digits would pass the Luhn check one time in ten."""
    return {"Idempotency-Key": f"key-{uuid.uuid4()}"}


def payment_settings(infra: TestInfrastructure, database: str, **overrides: Any) -> PaymentSettings:
    """Settings whose payments live in a database of their own, named after ``database``:
    risk counts payments by address and card, and every test pays from one of each."""
    prefix = f"{infra.db_prefix}{database}_"
    return settings_for(
        PaymentSettings, infra, health_host="127.0.0.1", mongodb_db_prefix=prefix, **overrides
    )


def base_url(settings: PaymentSettings) -> str:
    return f"http://127.0.0.1:{settings.payment_api_port}"


async def until_listening(client: httpx.AsyncClient) -> None:
    # A service reports itself started as its HTTP server begins to bind.
    async with asyncio.timeout(30):
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/health/live")).status_code == 200:
                    return
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def payment_api(
    settings: PaymentSettings, service: Service | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The service running with ``settings``, and a client holding the bearer key.

    ``service`` is one the test assembled from ``settings`` itself, to reach its parts;
    otherwise it is built from them."""
    to_run = service if service is not None else build(settings)
    async with (
        running(lambda _: to_run, settings),
        httpx.AsyncClient(base_url=base_url(settings), headers=AUTH, timeout=90) as client,
    ):
        await until_listening(client)
        yield client


async def current(api: httpx.AsyncClient, payment_id: str) -> dict[str, Any]:
    """The payment as the API returns it now."""
    response = await api.get(f"/v1/payments/{payment_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@contextlib.contextmanager
def payment_api_in_thread(settings: PaymentSettings) -> Iterator[str]:
    """The service running in a thread of its own; yields its base URL once it answers."""
    stopping: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
    failures: list[BaseException] = []
    ready = threading.Event()

    async def main() -> None:
        stop = asyncio.Event()
        stopping.append((asyncio.get_running_loop(), stop))
        async with httpx.AsyncClient(base_url=base_url(settings)) as client:
            serving = asyncio.create_task(serve(build(settings), stop))
            listening = asyncio.create_task(until_listening(client))
            await asyncio.wait([serving, listening], return_when=asyncio.FIRST_COMPLETED)
            if listening.done() and listening.exception() is None:
                ready.set()
            await serving

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as error:
            failures.append(error)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="payment-service", daemon=True)
    thread.start()
    ready.wait(timeout=60)
    try:
        if failures or not stopping:
            raise RuntimeError(f"the payment service did not start: {failures!r}")
        yield base_url(settings)
    finally:
        for loop, stop in stopping:
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)


@contextlib.asynccontextmanager
async def raw_database(settings: PaymentSettings) -> AsyncIterator[RawDatabase]:
    """The service's database without the shared codec: BSON types as stored."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_url)
    try:
        yield client[f"{settings.mongodb_db_prefix}payment"]
    finally:
        await client.close()


async def stored_documents(settings: PaymentSettings) -> dict[str, list[str]]:
    """Every document of every collection of the service's database, as stored (no codec),
    written out as extended JSON, by collection."""
    async with raw_database(settings) as db:
        found: dict[str, list[str]] = {}
        for name in await db.list_collection_names():
            found[name] = [json_util.dumps(d) async for d in db[name].find({})]
        return found


async def published_records(bootstrap: str) -> list[str]:
    """Every record on every ``payment.*`` topic so far: key, headers and value, as text."""
    topics = sorted(t for t in await list_topics(bootstrap) if t.startswith(PAYMENT_TOPICS))
    return [
        repr((record.topic, record.key, record.headers, record.value))
        for record in await records_up_to_now(bootstrap, topics)
    ]


# Loggers that are not the service's: the test's own HTTP client, and uvicorn's access log,
# which the service turns off (``access_log=False``) but pytest attaches its capture to.
NOT_THE_SERVICE = ("httpx", "httpcore", "uvicorn.access")


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every record the service logged: its formatted line, its arguments and attributes,
    its error."""
    lines = []
    for record in caplog.records:
        if record.name.startswith(NOT_THE_SERVICE):
            continue
        lines += [caplog.handler.format(record), record.getMessage(), repr(record.__dict__)]
        lines.append(record.exc_text or "")
    return "\n".join(lines)


def digits_pattern(digits: str) -> re.Pattern[str]:
    """The digits in order, however they are separated (``4000 0566-5566.5556``): by runs of
    whitespace or the separators the API reads between groups, raw or as JSON escapes."""
    separators = r"(?:\s|[-./_]|\\[nt]|\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2})*"
    return re.compile(separators.join(re.escape(d) for d in digits))


def containing(texts: Iterable[str], pattern: re.Pattern[str]) -> list[str]:
    return [text for text in texts if pattern.search(text)]
