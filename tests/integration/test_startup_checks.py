"""What start-up checks against a real database: a changed key lifetime on an existing
database, and a server that cannot run transactions."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

from shared.devstack.processes import ProcessGroup
from tests.support.infrastructure import free_port
from tests.support.payment_service import payment_api, payment_settings

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from pathlib import Path

    from tests.support.infrastructure import TestInfrastructure


async def test_a_changed_idempotency_key_lifetime_starts_on_an_existing_database(
    infra: TestInfrastructure,
) -> None:
    day = payment_settings(infra, "key_lifetime", payment_idempotency_key_hours=24)
    async with payment_api(day):
        pass
    two_days = payment_settings(infra, "key_lifetime", payment_idempotency_key_hours=48)

    async with payment_api(two_days) as api:
        assert (await api.get("/health/live")).status_code == 200


def test_a_service_refuses_to_start_on_a_server_that_cannot_run_transactions(
    infra: TestInfrastructure, tmp_path: Path
) -> None:
    standalone = ProcessGroup(tmp_path)
    port = free_port()
    standalone.start_mongo("127.0.0.1", port, standalone=True)
    try:
        started = subprocess.run(
            [sys.executable, "-m", "services.launcher"],
            env={
                "PATH": "/usr/bin:/bin",
                "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
                "MONGODB_URL": f"mongodb://127.0.0.1:{port}",
                "LAUNCHER_API_PORT": str(free_port()),
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        standalone.stop()

    assert started.returncode == 2, started.stderr
    [line] = started.stderr.strip().splitlines()
    assert line.startswith("configuration error: MONGODB_URL: MongoDB cannot run transactions")
    assert "replica set" in line
