"""Where campaignctl writes, and how a failure reads: one line, never a traceback."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.markup import escape

from shared.cli.settings import CliSettings
from shared.settings import ConfigurationError

# Piped into a log or CI, rich would assume 80 columns and squeeze the report's tables.
console = Console(width=None if sys.stdout.isatty() else 140)
errors = Console(stderr=True, soft_wrap=True)  # whole lines, for grep and for logs


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def run_against_kafka[T](settings: CliSettings, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; an unreachable broker, or a CA bundle that cannot be read, is one line
    naming the setting, not a traceback."""
    try:
        return asyncio.run(work)
    except ConfigurationError as error:
        raise fail(str(error)) from None
    except KafkaError as error:
        raise fail(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers} "
            f"(KAFKA_BOOTSTRAP_SERVERS): {error}"
        ) from None
