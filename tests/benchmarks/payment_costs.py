"""What each payment costs in CPU, process by process, read from ``/proc``: the payment
service, the bench's own clients, and the broker and database when this benchmark started
them (given or containerised ones are not its children and go uncounted); and in database
round trips, as the payment service counted them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    # The command name is in parentheses and may hold spaces: split after it.
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS


def infrastructure_processes() -> dict[str, int]:
    """This process's children that are the local broker or database, by role."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat(int(entry.name))[1]) != os.getpid():
                continue
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue  # gone meanwhile
        if "mongo_server" in argv:
            found["database (mongoeco)"] = int(entry.name)
        elif " broker " in argv:
            found["broker (tansu)"] = int(entry.name)
    return found


@dataclass
class CpuMeter:
    """CPU used by each process between ``start`` and ``stop``, per payment."""

    pids: dict[str, int]
    began: dict[str, float] | None = None
    used: dict[str, float] | None = None

    def start(self) -> None:
        self.began = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> None:
        assert self.began is not None
        self.used = {n: cpu_seconds(pid) - self.began[n] for n, pid in self.pids.items()}

    def line(self, payments: int, seconds: float, unit: str = "payment") -> str:
        assert self.used is not None
        parts = [
            f"{name} {used / payments * 1000:.1f} ms ({used / seconds:.0%} of a core)"
            for name, used in self.used.items()
        ]
        total = sum(self.used.values())
        return (
            f"CPU per {unit}: {', '.join(parts)}; together {total / payments * 1000:.1f} ms, "
            f"{total / seconds / (os.cpu_count() or 1):.0%} of the machine"
        )


@dataclass
class CommandMeter:
    """Database commands the payment service sent between ``start`` and ``stop``, per
    payment: the service counts them itself with a pymongo command listener
    (``PAYMENT_COUNT_COMMANDS``) and serves the tally at ``/debug/database-commands``."""

    http: httpx.AsyncClient
    began: dict[str, Any] | None = None
    used: dict[str, float] | None = None

    async def _read(self) -> dict[str, Any]:
        response = await self.http.get("/debug/database-commands")
        response.raise_for_status()
        tally: dict[str, Any] = response.json()
        return tally

    async def start(self) -> None:
        self.began = await self._read()

    async def stop(self) -> None:
        assert self.began is not None
        now = await self._read()
        self.used = {
            name: now[name] - self.began[name]
            for name in ("request_path", "transactions", "background")
        }

    def line(self, payments: int) -> str:
        assert self.used is not None
        per = {name: used / max(payments, 1) for name, used in self.used.items()}
        return (
            f"database round trips per payment: {per['request_path']:.1f} "
            f"({per['transactions']:.2f} transactions; reconciliation's rounds included), "
            f"and {per['background']:.1f} by the outbox relay"
        )
