"""``make up``: the whole system as local processes until Ctrl-C or SIGTERM.

A stop is taken at any moment, start-up included: the services get SIGTERM, then the
infrastructure, each with a grace period before SIGKILL; a second Ctrl-C or SIGTERM SIGKILLs
everything at once. See ``lifetime`` for what happens when the runner itself is killed.
"""

import signal
import sys
import time
from pathlib import Path

from shared.devstack.lifetime import StopRequested, StopSignals, die_with_parent
from shared.devstack.processes import SERVICES
from shared.devstack.stack import LocalStack, StackAddresses


def start(stack: LocalStack) -> None:
    addresses = stack.addresses
    stack.start_infrastructure()

    def origin(piece: str) -> str:
        return " (started)" if piece in stack.started_infrastructure else " (existing)"

    print(f"kafka     {addresses.kafka}{origin('kafka')}")
    print(f"mongodb   {addresses.mongodb}{origin('mongodb')}")
    print(f"ads       {addresses.ad_platform}{origin('ad-exchange')}")
    mail = f" (started; messages on {addresses.mail_url}/messages)"
    print(
        f"smtp      {addresses.smtp}"
        + (mail if "smtp" in stack.started_infrastructure else " (existing)")
    )
    stack.start_services()
    stack.wait_ready()
    for name in SERVICES:
        print(f"{name:<9} {addresses.http_url(name)}  (health: /health/ready)")
    print(f"payment API docs {addresses.http_url('payment')}/docs")
    print("logs in .devstack/logs; Ctrl-C stops everything")


def up() -> int:
    # A process manager's log, or a pipe, gets each line as it is printed.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    stack = LocalStack(StackAddresses.from_env(), Path(".devstack/logs"))
    signals = StopSignals(hurry=stack.processes.kill_all)
    try:
        signals.install()
        # A killed make forwards nothing: its death is the stop then.
        die_with_parent(signal.SIGTERM)
        start(stack)
        while not (exited := stack.processes.exited()):
            time.sleep(1)
        print(f"stopping: process(es) exited: {exited}", file=sys.stderr)
        return 1
    except StopRequested as stop:
        print(f"{stop} received")
        return 0
    finally:
        signals.begin_stop()
        print("stopping the stack (Ctrl-C again to kill it at once)...")
        stack.stop()
        print("stack stopped")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] != "up":
        sys.exit(f"usage: python -m shared.devstack [up]; unknown command {sys.argv[1]!r}")
    sys.exit(up())
