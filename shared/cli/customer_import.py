"""``customers import``: JSON lines in the ``customer.upserted`` shape, onto the broker.

Every line is accounted for: published, or reported with its line number and field.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared.cli.customer_count import STALL_SECONDS, Held, wait_for_customers
from shared.cli.events_client import EventPublisher, cloud_event
from shared.cli.settings import CliSettings
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


@dataclass(frozen=True)
class Imported:
    """What an import achieved: how many distinct customers it published and, if it
    waited, how many the segmenter stored and how fast."""

    published: int
    stored: Held | None
    started_at: float

    @property
    def stored_count(self) -> int:
        return 0 if self.stored is None else min(self.stored.customers, self.published)

    @property
    def seconds(self) -> float:
        """From the first publish to the last customer stored."""
        return 0.0 if self.stored is None else self.stored.reached_at - self.started_at

    @property
    def rate(self) -> float | None:
        """Customers stored per second, from the first publish."""
        if self.stored_count == 0:
            return None
        return self.stored_count / max(self.seconds, 1e-3)


async def import_customers(
    settings: CliSettings,
    customers: Sequence[CustomerUpserted],
    console: Console,
    *,
    wait: bool = True,
    stall_seconds: float = STALL_SECONDS,
) -> Imported:
    """Publish every customer, then (with ``wait``) follow the segmenter storing them.

    A customer counts as stored once the segmenter holds a version of it as of this
    import's start or later: this import's, or a newer one for which the segmenter skipped
    this import's. A version is as of its event's time, which this clock stamps, so the
    segmenter's clock does not matter. Customers another sync updates meanwhile count too.
    """
    distinct = len({customer.customer_id for customer in customers})
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        started, started_at = datetime.now(UTC), asyncio.get_running_loop().time()
        task = progress.add_task("Publishing customer.upserted", total=len(customers))
        async with EventPublisher(settings) as publisher:
            await publish_customers(publisher, customers, lambda: progress.advance(task))
        if not wait:
            return Imported(distinct, None, started_at)
        stored = progress.add_task("Stored by the segmenter", total=distinct)
        held = await wait_for_customers(
            settings,
            "segmenter",
            distinct,
            lambda count: progress.update(stored, completed=count),
            updated_since=started,
            stall_seconds=stall_seconds,
        )
    return Imported(distinct, held, started_at)


def report_stored(imported: Imported, console: Console, errors: Console) -> int:
    """Print how many customers the segmenter stored, and how fast; how many it did not."""
    if imported.stored is None:
        return 0
    if imported.rate is not None:
        console.print(
            f"stored {imported.stored_count:,} of {imported.published:,} distinct customers "
            f"in {imported.seconds:.1f}s: {imported.rate:,.1f} customers/s (publish to stored)"
        )
    missing = imported.published - imported.stored_count
    if missing:
        errors.print(
            f"{missing:,} customer(s) not stored by the segmenter: "
            f"the count stopped growing; see `campaignctl dlq list` and the segmenter's log",
            markup=False,
        )
    return missing
