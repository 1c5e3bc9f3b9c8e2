"""A process's descendants, read from /proc (Linux), so a test can tell that none outlive it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    pid: int
    # Clock ticks after boot: a pid the kernel hands out again has another start.
    started: int
    command: str

    def alive(self) -> bool:
        found = _status(self.pid)
        return found is not None and found[2] == self.started and found[0] not in "ZX"


def _status(pid: int) -> tuple[str, int, int] | None:
    """State, parent pid and start time; None once the pid is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may hold spaces: the fields start after its last ")".
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _command(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def descendants(roots: Iterable[int]) -> set[Process]:
    """Every living process under the ``roots`` (children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (found := _status(int(entry.name))) and found[0] not in "ZX":
            parents.setdefault(found[1], []).append(int(entry.name))
    found_below: set[Process] = set()
    waiting = [child for root in roots for child in parents.get(root, [])]
    while waiting:
        pid = waiting.pop()
        status = _status(pid)
        if status is not None:
            found_below.add(Process(pid, status[2], _command(pid)))
            waiting.extend(parents.get(pid, []))
    return found_below
