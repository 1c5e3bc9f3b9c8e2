"""``make up``: the whole system as local processes until Ctrl-C or SIGTERM."""

import signal
import sys
import threading
from pathlib import Path

from shared.devstack.processes import SERVICES
from shared.devstack.stack import LocalStack, StackAddresses


def up() -> int:
    addresses = StackAddresses.from_env()
    stack = LocalStack(addresses, Path(".devstack/logs"))
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        stack.start_infrastructure()
        print(
            f"kafka     {addresses.kafka}"
            + (" (started)" if "kafka" in stack.started_infrastructure else " (existing)")
        )
        print(
            f"mongodb   {addresses.mongodb}"
            + (" (started)" if "mongodb" in stack.started_infrastructure else " (existing)")
        )
        print(
            f"ads       {addresses.ad_platform}"
            + (" (started)" if "ad-exchange" in stack.started_infrastructure else " (existing)")
        )
        print(
            f"smtp      {addresses.smtp}"
            + (
                f" (started; messages on {addresses.mail_url}/messages)"
                if "smtp" in stack.started_infrastructure
                else " (existing)"
            )
        )
        stack.start_services()
        stack.wait_ready()
        for name in SERVICES:
            print(f"{name:<9} {addresses.http_url(name)}  (health: /health/ready)")
        print(f"payment API docs {addresses.http_url('payment')}/docs")
        print("logs in .devstack/logs; Ctrl-C stops everything")
        while not stopping.wait(1):
            if exited := stack.processes.exited():
                print(f"stopping: process(es) exited: {exited}", file=sys.stderr)
                return 1
        return 0
    finally:
        print("stopping the stack...")
        stack.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] != "up":
        sys.exit(f"usage: python -m shared.devstack [up]; unknown command {sys.argv[1]!r}")
    sys.exit(up())
