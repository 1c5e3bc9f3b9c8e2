"""The sandbox ad exchange in a server thread, and the Meta adapter pointed at it.

Each test takes an ad account of its own (``new_account``): the exchange keeps accounts
apart, so tests sharing a module's exchange never see each other's ad sets. The exchange's
clock only moves when a test advances it (over HTTP, so the server thread runs it).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn

from services.launcher.ads.meta import MetaAds
from services.launcher.settings import DEV_ONLY_AD_PLATFORM_TOKEN
from shared.devstack.ad_auction import DEFAULT_MARKETS, AdMarket, AdSet, PlatformMarket
from shared.devstack.ad_exchange import AdExchange, RecordedRequest
from shared.retry import Backoff
from tests.support.infrastructure import free_port

API_VERSION = "v23.0"
QUICK_RETRY = Backoff(first=0.01, cap=0.05)


@dataclass
class RunningExchange:
    exchange: AdExchange
    base_url: str

    def platform(self, account: str, **options: Any) -> MetaAds:
        values: dict[str, Any] = {
            "api_version": API_VERSION,
            "page_id": "sandbox_page",
            "backoff": QUICK_RETRY,
        }
        return MetaAds(self.base_url, DEV_ONLY_AD_PLATFORM_TOKEN, account, **(values | options))

    async def advance(self, seconds: int) -> None:
        await self._post("/sandbox/advance", {"seconds": seconds})

    async def fail_next(self, *faults: dict[str, Any]) -> None:
        await self._post("/sandbox/faults", {"faults": list(faults)})

    def ad_sets(self, account: str) -> list[AdSet]:
        return [a for a in self.exchange.market.ad_sets.values() if a.account == account]

    def requests(self, method: str, path_end: str) -> list[RecordedRequest]:
        return [
            r for r in self.exchange.requests if r.method == method and r.path.endswith(path_end)
        ]

    async def _post(self, path: str, body: dict[str, Any]) -> None:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            response = await client.post(path, json=body, timeout=120)
            response.raise_for_status()


def new_account() -> str:
    return f"act_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def sandbox_exchange(
    seed: int = 7, markets: Mapping[str, PlatformMarket] = DEFAULT_MARKETS
) -> Iterator[RunningExchange]:
    market = AdMarket(now=datetime.now(UTC), seed=seed, markets=dict(markets))
    exchange = AdExchange(market, token=DEV_ONLY_AD_PLATFORM_TOKEN)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            exchange.app(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, name="sandbox-ad-exchange", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield RunningExchange(exchange, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=5)
