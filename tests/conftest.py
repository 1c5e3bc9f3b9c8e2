"""Session-wide infrastructure: a real Kafka-protocol broker and a real MongoDB wire server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.infrastructure import TestInfrastructure, test_infrastructure
from tests.support.kafka import EventLog, Publisher

# The suite never calls a real model provider, whatever the developer's shell holds: service
# processes started by tests inherit this environment, in-process services get the same
# pins from tests.support.services.settings_for, and tests that exercise a provider point
# it at a local fake explicitly.
for _key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
    os.environ.pop(_key, None)
for _engine in ("PLANNER_ENGINE", "SEGMENTER_ENGINE", "CONTENT_ENGINE"):
    os.environ[_engine] = "offline"


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestInfrastructure]:
    with test_infrastructure(Path(tmp_path_factory.mktemp("infra-logs"))) as found:
        yield found


def pytest_report_header(config: pytest.Config) -> str:
    return (
        "infrastructure: KAFKA_BOOTSTRAP_SERVERS/MONGODB_URL, "
        "else testcontainers, else local processes"
    )


@pytest.fixture(scope="session")
async def events(infra: TestInfrastructure, publisher: Publisher) -> AsyncIterator[EventLog]:
    log = EventLog(infra.kafka)
    await log.start()
    yield log
    await log.stop()


@pytest.fixture(scope="session")
async def publisher(infra: TestInfrastructure) -> AsyncIterator[Publisher]:
    from shared.messaging.broker import ensure_topics

    await ensure_topics(infra.kafka)
    producer = Publisher(infra.kafka)
    await producer.start()
    yield producer
    await producer.stop()
