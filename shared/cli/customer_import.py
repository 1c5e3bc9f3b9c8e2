"""``customers import``: JSON lines in the ``customer.upserted`` shape, onto the broker.

Every line is accounted for: published, or reported with its line number and field.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared.cli.events_client import EventPublisher, cloud_event
from shared.events.common import field_errors
from shared.events.customers import CustomerUpserted
from shared.events.topics import CUSTOMER_UPSERTED


@dataclass(frozen=True)
class BadLine:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ParsedCustomers:
    customers: list[CustomerUpserted] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)


def read_customers(lines: Iterable[str]) -> ParsedCustomers:
    """Validate each non-blank line; a bad line is reported once per offending field."""
    result = ParsedCustomers()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            result.customers.append(CustomerUpserted.model_validate(json.loads(line)))
        except json.JSONDecodeError as error:
            result.bad_lines.append(BadLine(number, "(line)", f"not valid JSON: {error.msg}"))
        except ValidationError as error:
            result.bad_lines += [
                BadLine(number, e.field, e.message)
                for e in field_errors(error.errors(include_input=False))
            ]
    return result


def customer_lines(customers: Iterable[CustomerUpserted]) -> str:
    return "".join(customer.model_dump_json(exclude_none=True) + "\n" for customer in customers)


async def publish_customers(
    publisher: EventPublisher,
    customers: Sequence[CustomerUpserted],
    on_delivered: Callable[[], None] = lambda: None,
) -> None:
    """Queue every event without waiting, then flush; raises if any delivery failed."""
    deliveries = []
    for customer in customers:
        event = cloud_event(CUSTOMER_UPSERTED, customer, subject=customer.customer_id)
        delivery = await publisher.send(CUSTOMER_UPSERTED, event, key=customer.customer_id)
        delivery.add_done_callback(lambda _: on_delivered())
        deliveries.append(delivery)
    await publisher.flush()
    await asyncio.gather(*deliveries)


async def import_customers(
    bootstrap_servers: str, customers: Sequence[CustomerUpserted], console: Console
) -> None:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("Publishing customer.upserted", total=len(customers))
        async with EventPublisher(bootstrap_servers) as publisher:
            await publish_customers(publisher, customers, lambda: progress.advance(task))
