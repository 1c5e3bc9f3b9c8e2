"""Run campaignctl from a test, against the test's broker."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner, Result

from shared.cli.app import app
from tests.support.infrastructure import TestInfrastructure


async def campaignctl(infra: TestInfrastructure, *args: str, **env: str) -> Result:
    """Run the CLI in a thread: it runs its own event loop, as it does from a shell."""
    env = {"KAFKA_BOOTSTRAP_SERVERS": infra.kafka} | env
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
