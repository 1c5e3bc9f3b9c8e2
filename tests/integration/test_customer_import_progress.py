"""``campaignctl customers import`` follows the segmenter until the customers are stored,
through the segmenter's count of customers updated since a time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from services.segmenter.app import build
from services.segmenter.settings import SegmenterSettings
from shared.cli.customer_base import generate_customer_base
from shared.cli.customer_import import customer_lines
from shared.events.customers import CustomerUpserted
from shared.events.topics import CUSTOMER_UPSERTED
from tests.support.cli import campaignctl
from tests.support.infrastructure import free_port
from tests.support.kafka import Publisher, cloud_event
from tests.support.services import REPORTS_AUTH, caught_up, running, settings_for, until_async

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.infrastructure import TestInfrastructure


def own_database(infra: TestInfrastructure) -> SegmenterSettings:
    prefix = f"{infra.db_prefix}{uuid.uuid4().hex[:6]}_"
    return settings_for(SegmenterSettings, infra, mongodb_db_prefix=prefix)


def import_file(tmp_path: Path, count: int) -> tuple[Path, list[CustomerUpserted]]:
    """``count`` customers of this test's own, the last one on two lines."""
    prefix = f"import-{uuid.uuid4().hex[:8]}-"
    customers = [
        customer.model_copy(update={"customer_id": f"{prefix}{n}"})
        for n, customer in enumerate(generate_customer_base(count, seed=11))
    ]
    path = tmp_path / "customers.jsonl"
    path.write_text(customer_lines([*customers, customers[-1]]))
    return path, customers


async def test_import_waits_until_each_customer_is_stored_counting_newer_ones_and_reports_rate(
    infra: TestInfrastructure, publisher: Publisher, tmp_path: Path
) -> None:
    path, customers = import_file(tmp_path, 8)
    settings = own_database(infra)
    async with running(build, settings) as segmenter:
        await caught_up(segmenter, CUSTOMER_UPSERTED)
        # Two customers are already stored as of tomorrow: the import's versions are older,
        # so the segmenter skips them, and still holds those customers up to date.
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        newer = [c.model_copy(update={"first_name": "Newer"}) for c in customers[:2]]
        for customer in newer:
            event = cloud_event(
                CUSTOMER_UPSERTED,
                customer.model_dump(mode="json"),
                subject=customer.customer_id,
                time=tomorrow.isoformat(),
            )
            await publisher.send(CUSTOMER_UPSERTED, event, key=customer.customer_id)
        stored = segmenter.infra.db["customers"]
        ids = [c.customer_id for c in customers]

        async def newer_stored() -> bool:
            return await stored.count_documents({"_id": {"$in": ids[:2]}}) == 2

        await until_async(newer_stored, what="the newer versions stored")

        result = await campaignctl(
            infra,
            "customers",
            "import",
            str(path),
            SEGMENTER_HEALTH_PORT=str(settings.segmenter_health_port),
        )

        assert result.exit_code == 0, result.output
        assert "stored 8 of 8 distinct customers" in result.stdout
        assert "customers/s" in result.stdout
        names = {d["_id"]: d["first_name"] async for d in stored.find({"_id": {"$in": ids}})}
    assert names == {c.customer_id: c.first_name for c in [*newer, *customers[2:]]}


async def test_import_that_the_segmenter_does_not_store_says_how_many_and_exits_1(
    infra: TestInfrastructure, publisher: Publisher, tmp_path: Path
) -> None:
    path, _ = import_file(tmp_path, 3)
    nobody_listening = str(free_port())

    result = await campaignctl(
        infra,
        "customers",
        "import",
        str(path),
        "--stall-seconds",
        "1",
        SEGMENTER_HEALTH_PORT=nobody_listening,
    )

    assert result.exit_code == 1, result.output
    assert "published 4 customers" in result.stdout
    assert "3 customer(s) not stored by the segmenter" in result.stderr


async def test_customer_count_since_a_time_counts_customers_updated_since_and_checks_the_time(
    infra: TestInfrastructure, publisher: Publisher
) -> None:
    settings = own_database(infra)
    url = f"http://127.0.0.1:{settings.segmenter_health_port}/v1/customers/count"
    async with running(build, settings), httpx.AsyncClient(headers=REPORTS_AUTH) as client:
        later = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
        counted = await client.get(url, params={"updated_since": later})
        malformed = await client.get(url, params={"updated_since": "yesterday"})
        naive = await client.get(url, params={"updated_since": "2026-03-01T09:30:00"})

    assert counted.status_code == 200, counted.text
    assert counted.json() == {"customers": 0}
    for refused in (malformed, naive):
        assert refused.status_code == 422, refused.text
        [detail] = refused.json()["detail"]
        assert detail["loc"] == ["query", "updated_since"]
    assert "yesterday" in malformed.json()["detail"][0]["msg"]
