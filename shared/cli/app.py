"""campaignctl: import customers, request and follow campaigns, read reports, re-drive dead
letters, make API keys, run the demo."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import httpx
import typer
from pydantic import ValidationError

from shared.cli import campaign_request, customer_count, customer_import, demo
from shared.cli.analytics_api import KeyRefusedError, ReportNotFoundError, fetch_report
from shared.cli.api_key import api_key_app
from shared.cli.decisions_view import fetch_decisions, render_decisions
from shared.cli.dlq import dlq_app
from shared.cli.events_client import belongs_to, follow
from shared.cli.report_view import render_report
from shared.cli.settings import CliSettings
from shared.cli.terminal import console, errors, fail, run_against_kafka
from shared.cli.timeline import event_line
from shared.events.campaigns import CampaignRequested
from shared.events.common import field_errors
from shared.events.topics import ALL_TOPICS, CUSTOMER_UPSERTED
from shared.settings import load_settings

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
customers_app = typer.Typer(help="The customer base the segmenter works from.")
app.add_typer(customers_app, name="customers")
app.add_typer(api_key_app, name="api-key")
app.add_typer(dlq_app, name="dlq")


@customers_app.command("import")
def import_customers(
    file: Annotated[Path, typer.Argument(help="JSON lines, one customer.upserted each.")],
    wait: Annotated[
        bool, typer.Option(help="Follow the segmenter storing them, and report the rate.")
    ] = True,
    stall_seconds: Annotated[
        float, typer.Option(min=1, help="Stop waiting once the stored count stops growing.")
    ] = customer_count.STALL_SECONDS,
) -> None:
    """Publish each valid line as customer.upserted; report every bad line by number and field;
    then wait until the segmenter has stored them. Exits 1 if a line was bad or a customer
    was not stored."""
    settings = load_settings(CliSettings)
    try:
        parsed = customer_import.read_customers(file.read_text().splitlines())
    except OSError as error:
        raise fail(f"FILE: cannot read {file}: {error.strerror}", 2) from None
    for bad in parsed.bad_lines:
        errors.print(f"{file}:{bad.line}: {bad.field}: {bad.message}", markup=False)
    imported = None
    if parsed.customers:
        work = customer_import.import_customers(
            settings, parsed.customers, console, wait=wait, stall_seconds=stall_seconds
        )
        try:
            imported = run_against_kafka(settings, work)
        except customer_count.CountRefusedError as refused:
            raise fail(f"{refused} (ANALYTICS_API_KEY is sent to the segmenter)") from None
    bad_lines = len({bad.line for bad in parsed.bad_lines})
    console.print(f"published {len(parsed.customers)} customers; skipped {bad_lines} bad line(s)")
    missing = customer_import.report_stored(imported, console, errors) if imported else 0
    if bad_lines or missing:
        raise typer.Exit(1)


@app.command()
def request(
    file: Annotated[Path | None, typer.Option(help="A JSON campaign request.")] = None,
    campaign_id: Annotated[str | None, typer.Option(help="Overrides the file's.")] = None,
    name: Annotated[str | None, typer.Option()] = None,
    budget: Annotated[str, typer.Option(help="Decimal amount.")] = "50000",
    currency: Annotated[str, typer.Option()] = "USD",
    channels: Annotated[str, typer.Option(help="Comma-separated.")] = "email,social,web",
    sku: Annotated[str | None, typer.Option()] = None,
    product_name: Annotated[str | None, typer.Option()] = None,
    price: Annotated[str | None, typer.Option(help="Decimal amount, in --currency.")] = None,
) -> None:
    """Validate a campaign request, then publish it as campaign.requested."""
    settings = load_settings(CliSettings)
    try:
        if file is not None:
            raw = campaign_request.request_from_file(file)
            raw |= {"campaign_id": campaign_id} if campaign_id else {}
        else:
            raw = campaign_request.request_from_options(
                campaign_id=campaign_id,
                name=name,
                budget=budget,
                currency=currency,
                channels=channels,
                sku=sku,
                product_name=product_name,
                price=price,
            )
    except (OSError, ValueError) as error:
        raise fail(str(error), 2) from None
    try:
        valid = CampaignRequested.model_validate(raw)
    except ValidationError as error:
        for problem in field_errors(error.errors(include_url=False, include_input=False)):
            errors.print(f"  {problem.field}: {problem.message}", markup=False, highlight=False)
        raise fail("invalid campaign request; nothing was sent", 2) from None
    run_against_kafka(settings, campaign_request.publish_request(settings, valid))
    console.print(f"campaign.requested published for [bold]{valid.campaign_id}[/]")


@app.command()
def watch(
    campaign_id: str,
    timeout: Annotated[
        float | None, typer.Option(help="Stop after this many seconds; default: until Ctrl-C.")
    ] = None,
) -> None:
    """Print the campaign's events as they happen, from its first one."""
    settings = load_settings(CliSettings)
    topics = tuple(t for t in ALL_TOPICS if not t.startswith(CUSTOMER_UPSERTED))

    async def print_events() -> None:
        stream = follow(settings, topics, belongs_to(campaign_id))
        async for topic, event in stream:
            console.print(event_line(topic, event), highlight=False)

    async def bounded() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(print_events(), timeout)

    try:
        run_against_kafka(settings, bounded())
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command()
def report(campaign_id: str) -> None:
    """Show the campaign's report from the analytics API."""
    settings = load_settings(CliSettings)
    try:
        found = asyncio.run(
            fetch_report(settings.analytics_url, settings.reporting_headers, campaign_id)
        )
    except (ReportNotFoundError, KeyRefusedError) as error:
        raise fail(str(error)) from None
    except httpx.HTTPError as error:
        raise fail(
            f"analytics API at {settings.analytics_url} (ANALYTICS_API_URL): {error}"
        ) from None
    render_report(found, console)


@app.command()
def decisions(campaign_id: str) -> None:
    """Show the campaign's AI decisions: engine, inputs hash, cost, violations, fallbacks."""
    settings = load_settings(CliSettings)
    found = asyncio.run(
        fetch_decisions(settings.decision_log_urls, settings.reporting_headers, campaign_id)
    )
    render_decisions(campaign_id, found, console)
    if len(found.unreachable) == len(settings.decision_log_urls):
        raise typer.Exit(1)


@app.command("demo")
def run_demo() -> None:
    """Start the local stack, run a campaign end to end, print its report, stop the stack."""
    raise typer.Exit(demo.run_demo(load_settings(CliSettings), console))


def main() -> None:
    app(prog_name="campaignctl")


if __name__ == "__main__":
    main()
