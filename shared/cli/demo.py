"""``campaignctl demo``: the whole system, end to end, on this machine in a few minutes.

Starts the local stack, imports a synthetic customer base, requests a $50,000 campaign,
follows it to launch, lets a few shoppers buy through the payment API, waits for their
revenue to be recorded and for an optimisation cycle that has seen it (verdicts, the next
wave's weights, the planner's reallocation), and prints the campaign's
report. The stack always stops at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from shared.cli import campaign_flow
from shared.cli.customer_base import generate_customer_base
from shared.cli.customer_count import STALL_SECONDS, CountRefusedError, wait_for_customers
from shared.cli.customer_import import customer_lines, import_customers, read_customers
from shared.cli.deadlines import LOG_DIR, DemoFailure, service_log, within
from shared.cli.settings import CliSettings
from shared.devstack.stack import LocalStack, StackAddresses
from shared.events.customers import CustomerUpserted

CUSTOMERS_FILE = Path(".devstack/demo-customers.jsonl")

STACK_TIMEOUT = 90.0
# Customers are stored in batches, a few hundred a second on the local database stand-in
# while five other services share it: 3,000 take well under a minute; the limit is generous.
SEGMENTER_TIMEOUT = 360.0


def start_stack(stack: LocalStack, console: Console) -> None:
    console.rule("[bold]1. Local stack")
    try:
        with console.status("Starting the broker and the database..."):
            stack.start_infrastructure()
        started = ", ".join(stack.started_infrastructure) or "none (reusing running ones)"
        console.print(f"infrastructure started: {started}")
        with console.status("Starting the six services and waiting until they are ready..."):
            stack.start_services()
            stack.wait_ready(timeout=STACK_TIMEOUT)
    except RuntimeError:
        exited = stack.processes.exited()
        logs = ", ".join(str(service_log(name)) for name in exited)
        raise DemoFailure(f"exited during start-up: {exited}; see {logs}") from None
    except TimeoutError as error:
        raise DemoFailure(f"{error}; see {LOG_DIR}/") from None
    console.print("services ready: planner, segmenter, content, launcher, payment, analytics")


def demo_customers() -> list[CustomerUpserted]:
    """Written to a file and read back, so the demo imports exactly as ``customers import``."""
    CUSTOMERS_FILE.parent.mkdir(parents=True, exist_ok=True)
    CUSTOMERS_FILE.write_text(customer_lines(generate_customer_base()))
    parsed = read_customers(CUSTOMERS_FILE.read_text().splitlines())
    if parsed.bad_lines:
        raise DemoFailure(f"generated customer base is invalid: {parsed.bad_lines[0]}")
    return parsed.customers


async def load_customers(settings: CliSettings, console: Console) -> list[CustomerUpserted]:
    console.rule("[bold]2. Customer base")
    customers = demo_customers()
    console.print(f"{len(customers):,} customers generated into {CUSTOMERS_FILE}")
    await import_customers(settings, customers, console, wait=False)
    for service, held in (("segmenter", "holds"), ("launcher", "can address")):
        await wait_until_held(settings, console, service, len(customers))
        console.print(f"{service} {held} all {len(customers):,} customers")
    return customers


async def wait_until_held(
    settings: CliSettings, console: Console, service: str, count: int
) -> None:
    """Until ``service`` has stored every one of ``count`` customers, showing how far it is."""
    with console.status(f"Waiting for the {service} to store every customer...") as status:

        def show(stored: int) -> None:
            status.update(f"Waiting for the {service}: {stored:,} of {count:,} customers")

        await within(
            SEGMENTER_TIMEOUT,
            f"all {count:,} customers in the {service}",
            service,
            held_by(settings, service, count, show),
        )


async def held_by(
    settings: CliSettings, service: str, count: int, on_count: Callable[[int], None]
) -> None:
    try:
        held = await wait_for_customers(settings, service, count, on_count)
    except CountRefusedError as refused:
        raise DemoFailure(str(refused)) from None
    if not held.complete:
        raise DemoFailure(
            f"the {service} stopped at {held.customers:,} of {count:,} customers (no progress "
            f"for {STALL_SECONDS:.0f}s); see {service_log(service)}"
        )


async def run_campaign(settings: CliSettings, console: Console) -> None:
    customers = await load_customers(settings, console)
    campaign_id = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    flow = campaign_flow.CampaignFlow(settings, console, campaign_id)
    await flow.run(customers)


def demo_environment() -> dict[str, str]:
    """The caller's environment, with an optimiser cycle every few seconds (unless set), so
    the demo shows the campaign improving itself while it runs."""
    interval = str(campaign_flow.DEMO_OPTIMISER_INTERVAL)
    return {"OPTIMISER_INTERVAL_SECONDS": interval} | dict(os.environ)


def run_demo(settings: CliSettings, console: Console) -> int:
    stack = LocalStack(StackAddresses.from_env(demo_environment()), LOG_DIR)
    try:
        start_stack(stack, console)
        asyncio.run(run_campaign(settings, console))
        console.print("[bold green]demo complete[/]")
        return 0
    except DemoFailure as failure:
        console.print(f"[bold red]demo failed:[/] {escape(str(failure))}", soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    finally:
        with console.status("Stopping the stack..."):
            stack.stop()
        console.print(f"stack stopped; logs in {LOG_DIR}")
