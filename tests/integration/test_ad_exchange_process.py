"""The sandbox ad exchange as the local stack runs it: its own process, started unless one
already answers at LAUNCHER_AD_PLATFORM_URL, reached by the Meta adapter over HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from services.launcher.ads.meta import MetaAds
from services.launcher.ads.platform import (
    AdSetOrder,
    Audience,
    Budget,
    BudgetKind,
    Creative,
)
from services.launcher.settings import DEV_ONLY_AD_PLATFORM_TOKEN
from shared.devstack.stack import LocalStack, StackAddresses
from shared.events.common import Channel
from shared.money import Money
from tests.support.infrastructure import free_port

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure


async def buy_and_read(base_url: str) -> int:
    platform = MetaAds(
        base_url, DEV_ONLY_AD_PLATFORM_TOKEN, "act_process", api_version="v23.0", page_id="p"
    )
    order = AdSetOrder(
        key="process/high_value/high_value-web-a/web",
        campaign_id="process",
        placement=Channel.WEB,
        budget=Budget(BudgetKind.LIFETIME, Money.of("50.00", "USD")),
        bid=Money.of("20.00", "USD"),
        creative=Creative("Quiet", "Wherever you are.", None, "https://shop.example.com/p/1"),
        audience=Audience("high_value", "High-value customers", 1000),
        ends_at=datetime.now(UTC) + timedelta(days=1),
    )
    ad_set_id = await platform.create_ad_set(order)
    async with httpx.AsyncClient(base_url=base_url) as client:
        (await client.post("/sandbox/advance", json={"seconds": 120})).raise_for_status()
    report = await platform.report(ad_set_id, clicks_after=None)
    await platform.close()
    return report.impressions


def test_the_stack_starts_the_sink_and_exchange_unless_they_answer_and_the_exchange_serves_ads(
    infra: TestInfrastructure, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": infra.mongodb,
        "LAUNCHER_AD_PLATFORM_URL": url,
        "LAUNCHER_SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
        "SMTP_SINK_HTTP_PORT": str(free_port()),
        "SMTP_SINK_DIR": str(tmp_path / "mail"),
    }
    stack = LocalStack(StackAddresses.from_env(env), tmp_path)
    try:
        stack.start_infrastructure()
        assert stack.started_infrastructure == ["smtp", "ad-exchange"]
        beside = LocalStack(StackAddresses.from_env(env), tmp_path)
        beside.start_infrastructure()
        assert beside.started_infrastructure == []  # it uses the exchange that answers
        impressions = asyncio.run(buy_and_read(url))
    finally:
        stack.stop()
    assert impressions > 0
