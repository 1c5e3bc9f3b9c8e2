"""How long the local stack's processes live: as long as the runner, and no longer.

The runner stops on the first SIGINT or SIGTERM whatever it is doing, start-up included, and
SIGKILLs what is left on the next one. On Linux every process the stack starts gets SIGKILL
from the kernel when the runner dies, however it dies (a parent-death signal), and the runner
gets SIGTERM when the process that started it (``make``) dies. Elsewhere only the signals hold.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class StopRequested(BaseException):
    """SIGINT or SIGTERM: unwinds start-up or the wait so the runner's ``finally`` stops the
    stack. A BaseException, like KeyboardInterrupt, so no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    return prctl


def die_with_parent(signum: int) -> None:
    """Have the kernel send ``signum`` to this process when its parent dies (Linux only)."""
    prctl = _prctl()
    if prctl is not None and prctl(_PR_SET_PDEATHSIG, signum) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def child_setup() -> Callable[[], None]:
    """A ``preexec_fn``: the child dies with the thread starting it, and takes the stop
    signals that ``signals_held`` keeps from that thread."""
    parent = os.getpid()
    _prctl()  # loaded here: the child, a fork of a possibly threaded parent, must not import

    def in_child() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        die_with_parent(signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the signal was asked for
            os.kill(os.getpid(), signal.SIGKILL)

    return in_child


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Keep SIGINT and SIGTERM until the block ends: a child is started and on the list
    before a stop can unwind the code that started it."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


class StopSignals:
    """The runner's SIGINT and SIGTERM handler: the first raises StopRequested; any after it,
    or after ``stopping()``, calls ``hurry`` (SIGKILL everything) without raising, so the stop
    under way is never cut short."""

    def __init__(self, hurry: Callable[[], None]) -> None:
        self.hurry = hurry
        self.stopping = False

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.handle)

    def begin_stop(self) -> None:
        self.stopping = True

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            self.hurry()
            return
        self.stopping = True
        raise StopRequested(signum)
