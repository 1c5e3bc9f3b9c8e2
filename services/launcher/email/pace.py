"""``LAUNCHER_SEND_RATE``: at most so many messages a second, evenly spaced.

Mailbox providers throttle senders whose volume jumps, so a new sending domain ramps up;
the rate is the knob. Sends are spaced one interval apart rather than let through in
bursts, which is what a receiving server sees as steady traffic.
"""

from __future__ import annotations

import asyncio
import time


class SendPace:
    def __init__(self, per_second: float | None) -> None:
        self._interval = 1 / per_second if per_second else 0.0
        self._next_turn = 0.0

    async def wait_turn(self) -> None:
        """Returns when the next message may go; at once when the rate is unlimited."""
        if not self._interval:
            return
        now = time.monotonic()
        turn = max(now, self._next_turn)
        self._next_turn = turn + self._interval
        if turn > now:
            await asyncio.sleep(turn - now)
