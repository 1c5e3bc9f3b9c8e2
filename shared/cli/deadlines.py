"""Bounded waits for the demo: a step either arrives in time or fails in one clear line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path

LOG_DIR = Path(".devstack/logs")


class DemoFailure(Exception):  # noqa: N818 - reads as what it is: the demo failed
    """One line: what did not happen in time, and which log to read."""


def service_log(service: str) -> Path:
    return LOG_DIR / f"{service}.log"


async def within[T](seconds: float, what: str, service: str, step: Awaitable[T]) -> T:
    """``step``'s result, or ``DemoFailure`` naming ``what`` and ``service``'s log."""
    try:
        async with asyncio.timeout(seconds):
            return await step
    except TimeoutError:
        raise DemoFailure(
            f"{what} did not arrive within {seconds:.0f}s; see {service_log(service)}"
        ) from None
