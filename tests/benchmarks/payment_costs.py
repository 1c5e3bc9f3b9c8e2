"""What each payment costs in CPU, process by process, read from ``/proc``: the payment
service, the bench's own clients, and the broker and database when this benchmark started
them (given or containerised ones are not its children and go uncounted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
