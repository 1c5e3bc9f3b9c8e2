"""``make up``: the whole system as local processes until Ctrl-C or SIGTERM.

A stop is taken at any moment, start-up included: the services get SIGTERM, then the
infrastructure, each with a grace period before SIGKILL; a second Ctrl-C or SIGTERM SIGKILLs
everything at once. See ``lifetime`` for what happens when the runner itself is killed.

``up --replicas N`` (``make up REPLICAS=N``) runs N replicas of each service behind a
balancer on the service's usual port (see ``stack``).
"""

import argparse
import os
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
        if stack.replicas > 1:
            for replica in stack.replicas_of(name):
                print(f"  {replica:<12} {stack.replica_url(name, replica)}")
    print(f"payment API docs {addresses.http_url('payment')}/docs")
    print("logs in .devstack/logs; Ctrl-C stops everything")


def up(replicas: int = 1) -> int:
    # A process manager's log, or a pipe, gets each line as it is printed.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    stack = LocalStack(StackAddresses.from_env(), Path(".devstack/logs"), replicas)
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


def replica_count(text: str) -> int:
    # A replica beyond a topic's partitions would get none of them and never be ready.
    partitions = int(os.environ.get("KAFKA_TOPIC_PARTITIONS", "3"))
    if not text.isdigit() or not 1 <= int(text) <= partitions:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a whole number from 1 to the topics' partitions ({partitions})"
        )
    return int(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m shared.devstack")
    parser.add_argument("command", nargs="?", default="up", choices=["up"])
    parser.add_argument("--replicas", type=replica_count, default=1, help="per service")
    sys.exit(up(parser.parse_args().replicas))
