"""``make up`` stops everything it started, whenever the stop comes: SIGTERM or Ctrl-C during
start-up or after it, and a SIGKILL of the runner or of make leaves no process behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shared.devstack.lifetime import StopRequested, StopSignals
from shared.devstack.processes import SERVICES, ProcessGroup, wait_until
from shared.devstack.stack import HTTP_PORTS
from tests.support.infrastructure import free_port
from tests.support.process_tree import Process, descendants

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc; the parent-death signal is Linux's"
)

ROOT = Path(__file__).resolve().parents[2]
# ``-o install``: the suite's venv as it is (VENV names it), never a pip install into it.
MAKE_UP = ["make", "-f", str(ROOT / "Makefile"), "-o", "install", "up", f"VENV={sys.prefix}"]
RUNNER = [sys.executable, "-m", "shared.devstack", "up"]
READY_LINE = "Ctrl-C stops everything"
START_TIMEOUT = 240.0
# The runner gives the services, then the infrastructure, 35 s each before SIGKILL.
GRACE = 80.0
DATABASE = "shared.devstack.mongo_server"


def stack_environment() -> dict[str, str]:
    """Every address on a free port, so the stack starts all of its pieces beside the suite's."""
    ports = {variable: str(free_port()) for variable, _ in HTTP_PORTS.values()}
    return (
        dict(os.environ)
        | ports
        | {
            "PYTHONPATH": str(ROOT),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            "MONGODB_URL": f"mongodb://127.0.0.1:{free_port()}",
            "LAUNCHER_SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
            "SMTP_SINK_HTTP_PORT": str(free_port()),
            "LAUNCHER_AD_PLATFORM_URL": f"http://127.0.0.1:{free_port()}",
        }
    )


class StackRun:
    """``make up`` (or the runner it starts) and every process ever seen under it."""

    def __init__(self, argv: list[str], directory: Path, *, own_session: bool = False) -> None:
        self.output = directory / "output.txt"
        with self.output.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 - argv built by the test itself
                argv,
                cwd=directory,
                env=stack_environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=own_session,
            )
        self.seen: set[Process] = set()

    def look(self) -> set[Process]:
        """Also below processes seen before, so a runner whose make died is still followed."""
        roots = {p.pid for p in self.seen if p.alive()}
        if self.process.poll() is None:
            roots.add(self.process.pid)
        self.seen |= descendants(roots)
        return self.seen

    def until(self, what: str, done: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            self.look()
            if time.monotonic() > deadline:
                survivors = "\n".join(sorted(p.command for p in self.survivors()))
                output = self.output.read_text()[-2000:]
                pytest.fail(f"no {what} within {timeout:.0f}s; alive:\n{survivors}\n{output}")
            time.sleep(0.1)  # polling /proc; nothing to wait on instead

    def started(self, fragment: str) -> bool:
        return any(fragment in p.command for p in self.look())

    def printed(self, line: str) -> bool:
        return line in self.output.read_text()

    def services(self) -> set[str]:
        return {name for name in SERVICES if self.started(f"-m services.{name}")}

    def survivors(self) -> set[Process]:
        return {p for p in self.seen if p.alive()}

    def stops(self) -> None:
        self.until("exit of the runner", lambda: self.process.poll() is not None, GRACE)
        self.until("end of every process it started", lambda: not self.survivors(), GRACE)

    def clean_up(self) -> None:
        self.look()
        for process in self.survivors():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Callable[..., StackRun]]:
    started: list[StackRun] = []

    def run(argv: list[str], *, own_session: bool = False) -> StackRun:
        started.append(StackRun(argv, tmp_path, own_session=own_session))
        return started[-1]

    yield run
    for stack in started:
        stack.clean_up()


def test_sigterm_to_make_up_during_start_up_stops_what_started_and_starts_nothing_more(
    runs: Callable[..., StackRun],
) -> None:
    stack = runs(MAKE_UP)
    stack.until("database process", lambda: stack.started(DATABASE), START_TIMEOUT)
    os.kill(stack.process.pid, signal.SIGTERM)  # as a process manager or a CI timeout sends it

    stack.stops()
    assert stack.services() == set(), "services were started after the stop arrived"


def test_ctrl_c_after_start_up_stops_every_process(runs: Callable[..., StackRun]) -> None:
    stack = runs(MAKE_UP, own_session=True)
    stack.until("ready line", lambda: stack.printed(READY_LINE), START_TIMEOUT)
    assert stack.services() == set(SERVICES)
    os.killpg(stack.process.pid, signal.SIGINT)  # the terminal's Ctrl-C: make and the runner

    stack.stops()


def test_sigkill_of_the_runner_during_start_up_takes_every_process_with_it(
    runs: Callable[..., StackRun],
) -> None:
    stack = runs(RUNNER)
    stack.until("six services", lambda: stack.services() == set(SERVICES), START_TIMEOUT)
    os.kill(stack.process.pid, signal.SIGKILL)

    stack.stops()
    pieces = ("tansu", DATABASE, "smtp_sink", "ad_exchange")
    assert all(stack.started(piece) for piece in pieces), stack.seen


def test_sigkill_of_make_up_stops_the_runner_and_what_it_started(
    runs: Callable[..., StackRun],
) -> None:
    stack = runs(MAKE_UP)
    stack.until("database process", lambda: stack.started(DATABASE), START_TIMEOUT)
    os.kill(stack.process.pid, signal.SIGKILL)

    stack.stops()


def test_a_second_stop_signal_kills_what_the_first_stop_still_waits_on(tmp_path: Path) -> None:
    processes = ProcessGroup(tmp_path)
    deaf = "import signal, time; signal.signal(signal.SIGTERM, lambda *_: print('term'))"
    argv = [sys.executable, "-u", "-c", f"{deaf}; print('up'); time.sleep(3600)"]
    processes.start("deaf", argv)
    pid, log = processes.processes["deaf"].pid, tmp_path / "deaf.log"
    signals = StopSignals(hurry=processes.kill_all)
    wait_until(lambda: "up" in log.read_text(), START_TIMEOUT, "the process")
    with pytest.raises(StopRequested, match="SIGTERM"):
        signals.handle(signal.SIGTERM, None)
    with ThreadPoolExecutor(1) as pool:
        # A grace longer than the test: only the second signal can end this stop.
        stopping = pool.submit(processes.stop, timeout=3600)
        wait_until(lambda: "term" in log.read_text(), START_TIMEOUT, "its SIGTERM")
        signals.handle(signal.SIGINT, None)
        try:
            codes = stopping.result(timeout=START_TIMEOUT)
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)  # not reaped yet, so still the one we started
            raise

    assert codes == {"deaf": -signal.SIGKILL}
