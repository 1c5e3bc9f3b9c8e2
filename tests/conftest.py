"""Session-wide infrastructure: a real Kafka-protocol broker and a real MongoDB wire server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.infrastructure import TestInfrastructure, test_infrastructure
from tests.support.kafka import EventLog, Publisher


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
