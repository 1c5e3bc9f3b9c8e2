"""Waiting on a service's customer count (the segmenter's or the launcher's) until it
reaches a target or stops growing; the demo and ``customers import`` both wait this way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx

from shared.cli.settings import CliSettings

POLL_SECONDS = 0.5
STALL_SECONDS = 20.0


class CountRefusedError(Exception):
    """The service answered the count with a client error: a key or a parameter to fix."""


@dataclass(frozen=True)
class Held:
    """How many customers the service held when the wait ended, and when that was reached
    (the event loop's clock)."""

    customers: int
    reached_at: float
    target: int

    @property
    def complete(self) -> bool:
        return self.customers >= self.target


def service_url(settings: CliSettings, service: str) -> str:
    return settings.segmenter_url if service == "segmenter" else settings.launcher_url


async def wait_for_customers(
    settings: CliSettings,
    service: str,
    target: int,
    on_count: Callable[[int], None],
    *,
    updated_since: datetime | None = None,
    stall_seconds: float = STALL_SECONDS,
) -> Held:
    """Poll ``service``'s count (of customers updated since ``updated_since``, if given)
    until it reaches ``target`` or has not grown for ``stall_seconds``.

    A service not answering yet (starting, or a 5xx) counts as holding none so far.
    """
    loop = asyncio.get_running_loop()
    held, grew_at = -1, loop.time()
    params = {} if updated_since is None else {"updated_since": updated_since.isoformat()}
    async with httpx.AsyncClient(
        base_url=service_url(settings, service), headers=settings.reporting_headers, timeout=5
    ) as client:
        while True:
            now_held = await read_count(client, params)
            if now_held > held:
                held, grew_at = now_held, loop.time()
            on_count(held)
            if held >= target or loop.time() - grew_at > stall_seconds:
                return Held(held, grew_at, target)
            await asyncio.sleep(POLL_SECONDS)


async def read_count(client: httpx.AsyncClient, params: dict[str, str]) -> int:
    try:
        response = await client.get("/v1/customers/count", params=params)
    except httpx.TransportError:
        return 0
    if 400 <= response.status_code < 500:
        raise CountRefusedError(
            f"{client.base_url} answered the customer count with "
            f"{response.status_code}: {response.text}"
        )
    return int(response.json()["customers"]) if response.status_code == 200 else 0
