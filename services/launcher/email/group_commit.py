"""Group commit: whatever is submitted while a write is in flight goes into the next write.

The dispatcher writes twice per message: the claim (``sending``) just before its SMTP
transaction, and its outcome just after. Each must reach the database promptly, one by one,
so that a crash strands nothing else as ``unknown`` or loses anything already sent; yet a
write per message would cost a database round trip each. Grouping gives both: one write in
flight at a time, carrying everything that arrived meanwhile, so the groups grow with the
load and the writes never queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class GroupCommit[T, R]:
    """``write`` takes a group of items; every item's future gets the group's result (or
    its error)."""

    def __init__(self, write: Callable[[list[T]], Awaitable[R]]) -> None:
        self._write = write
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    def submit(self, item: T) -> asyncio.Future[R]:
        result: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, result))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        return result

    async def _write_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                written = await self._write([item for item, _ in group])
            except Exception as error:
                for _, result in group:
                    if not result.done():
                        result.set_exception(error)
                continue
            for _, result in group:
                if not result.done():
                    result.set_result(written)
