"""Every HTTP API but health, docs and webhooks needs a key with the route's scope.

The keys file is written here in its documented format (``<name> <scope,...>
sha256:<hex of the key>``), so these tests hold the format as much as the services.
Each route is asked with no key and a wrong one (401), with a key of every other scope
(403 naming the one it needs), and with a key of its own scope (its ordinary answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from services.analytics.app import build as build_analytics
from services.analytics.settings import AnalyticsSettings
from services.content.app import build as build_content
from services.content.settings import ContentSettings
from services.launcher.app import build as build_launcher
from services.launcher.settings import LauncherSettings
from services.planner.app import build as build_planner
from services.planner.settings import PlannerSettings
from services.segmenter.app import build as build_segmenter
from services.segmenter.settings import SegmenterSettings
from shared.events.topics import CAMPAIGN_PLANNED
from tests.support.factories import campaign_id, campaign_planned, payment_request
from tests.support.kafka import Publisher, cloud_event
from tests.support.payment_service import (
    WITHOUT_RISK_HOLDS,
    idempotency_key,
    payment_api,
    payment_settings,
)
from tests.support.services import running_all, settings_for

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure

SCOPES = ("payments:write", "payments:read", "refunds:write", "reports:read", "events:write")
# The documented local-mode defaults.
DEV_ONLY_PAYMENT_API_KEY = "dev-only-payment-api-key"
DEV_ONLY_ANALYTICS_API_KEY = "dev-only-analytics-api-key"
KEYS = {scope: f"test-{scope.replace(':', '-')}-{uuid.uuid4().hex}" for scope in SCOPES}


def keys_file_line(name: str, scopes: list[str], key: str) -> str:
    return f"{name} {','.join(scopes)} sha256:{hashlib.sha256(key.encode()).hexdigest()}\n"


def write_keys_file(path: Path, keys: dict[str, tuple[list[str], str]]) -> None:
    """Replaced whole, as a deployment would: written aside, then renamed over it."""
    text = "# name  scopes  sha256 of the key\n" + "".join(
        keys_file_line(name, scopes, key) for name, (scopes, key) in keys.items()
    )
    aside = path.with_suffix(".new")
    aside.write_text(text)
    os.replace(aside, path)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api-keys") / "api-keys"
    write_keys_file(
        path, {f"only-{scope.replace(':', '-')}": ([scope], key) for scope, key in KEYS.items()}
    )
    return path


@dataclass(frozen=True)
class Route:
    """A route, the scope it needs, and how to call it once for a given key."""

    service: str
    scope: str
    call: Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]
    allowed: int


@pytest.fixture(scope="module")
async def apis(
    infra: TestInfrastructure, keys_file: Path
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Clients without a key for every service with an HTTP API, all running."""
    payment = payment_settings(infra, "api_keys", api_keys_file=keys_file, **WITHOUT_RISK_HOLDS)
    with_keys = {"api_keys_file": keys_file}
    others = {
        "analytics": (build_analytics, settings_for(AnalyticsSettings, infra, **with_keys)),
        "planner": (build_planner, settings_for(PlannerSettings, infra, **with_keys)),
        "segmenter": (build_segmenter, settings_for(SegmenterSettings, infra, **with_keys)),
        "content": (build_content, settings_for(ContentSettings, infra, **with_keys)),
        "launcher": (build_launcher, settings_for(LauncherSettings, infra, **with_keys)),
    }
    async with (
        payment_api(payment) as paying,
        running_all(list(others.values())) as services,
        contextlib.AsyncExitStack() as clients,
    ):
        found = {"payment": httpx.AsyncClient(base_url=paying.base_url, timeout=30)}
        for name, service in zip(others, services, strict=True):
            found[name] = httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{service.http_port}", timeout=30
            )
        for client in found.values():
            await clients.enter_async_context(client)
        yield found


async def created_payment(payment: httpx.AsyncClient) -> str:
    created = await payment.post(
        "/v1/payments",
        json=payment_request(),
        headers=bearer(KEYS["payments:write"]) | idempotency_key(),
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.fixture(scope="module")
async def planned_campaign(apis: dict[str, httpx.AsyncClient], publisher: Publisher) -> str:
    """A campaign analytics knows, so its report answers 200."""
    cid = campaign_id()
    await publisher.send(
        CAMPAIGN_PLANNED, cloud_event(CAMPAIGN_PLANNED, campaign_planned(cid), subject=cid), key=cid
    )
    analytics = apis["analytics"]
    for _ in range(300):
        report = await analytics.get(
            f"/v1/campaigns/{cid}/report", headers=bearer(KEYS["reports:read"])
        )
        if report.status_code == 200:
            return cid
        await asyncio.sleep(0.1)
    raise AssertionError(f"analytics never reported {cid}: {report.status_code} {report.text}")


def payment_routes() -> list[Route]:
    async def create(client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response:
        return await client.post(
            "/v1/payments", json=payment_request(), headers=auth | idempotency_key()
        )

    async def listing(client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response:
        return await client.get("/v1/payments", params={"limit": 1}, headers=auth)

    async def one(client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response:
        return await client.get(f"/v1/payments/{await created_payment(client)}", headers=auth)

    async def review(client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response:
        decision = {"decision": "approve", "reviewer": "risk@shop.example"}
        url = f"/v1/payments/{await created_payment(client)}/review"
        return await client.post(url, json=decision, headers=auth | idempotency_key())

    async def refund(client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response:
        url = f"/v1/payments/{await created_payment(client)}/refunds"
        return await client.post(url, json={}, headers=auth | idempotency_key())

    return [
        Route("payment", "payments:write", create, 201),
        Route("payment", "payments:read", listing, 200),
        Route("payment", "payments:read", one, 200),
        # Authorised, and refused by the lifecycle: a completed payment is not in review.
        Route("payment", "payments:write", review, 409),
        Route("payment", "refunds:write", refund, 201),
    ]


def reporting_routes(cid: str) -> list[Route]:
    def get(path: str) -> Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]:
        async def call(client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response:
            return await client.get(path, headers=auth)

        return call

    async def performance(client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response:
        return await client.post(f"/v1/campaigns/{cid}/performance", headers=auth)

    async def evaluate(client: httpx.AsyncClient, auth: dict[str, str]) -> httpx.Response:
        return await client.post(f"/v1/campaigns/{cid}/evaluate", headers=auth)

    decisions = get(f"/v1/campaigns/{cid}/decisions")
    return [
        Route("analytics", "reports:read", get(f"/v1/campaigns/{cid}/report"), 200),
        Route("analytics", "events:write", performance, 202),
        Route("analytics", "reports:read", evaluate, 200),
        Route("analytics", "reports:read", decisions, 200),
        Route("planner", "reports:read", decisions, 200),
        Route("segmenter", "reports:read", decisions, 200),
        Route("content", "reports:read", decisions, 200),
        Route("segmenter", "reports:read", get("/v1/customers/count"), 200),
        Route("launcher", "reports:read", get("/v1/customers/count"), 200),
    ]


ROUTE_NAMES = [
    "payment-create", "payment-list", "payment-get", "payment-review", "payment-refund",
    "analytics-report", "analytics-performance", "analytics-evaluate", "analytics-decisions",
    "planner-decisions", "segmenter-decisions",
    "content-decisions", "segmenter-customer-count", "launcher-customer-count",
]  # fmt: skip


@pytest.mark.parametrize("index", range(len(ROUTE_NAMES)), ids=ROUTE_NAMES)
async def test_each_route_needs_a_key_holding_its_scope(
    apis: dict[str, httpx.AsyncClient], planned_campaign: str, index: int
) -> None:
    route = [*payment_routes(), *reporting_routes(planned_campaign)][index]
    client = apis[route.service]

    for auth in ({}, bearer("not-a-key-of-ours"), {"Authorization": KEYS[route.scope]}):
        unauthenticated = await route.call(client, auth)
        assert unauthenticated.status_code == 401, unauthenticated.text
        assert unauthenticated.headers["www-authenticate"] == "Bearer"
    for other in set(SCOPES) - {route.scope}:
        forbidden = await route.call(client, bearer(KEYS[other]))
        assert forbidden.status_code == 403, (other, forbidden.text)
        assert route.scope in forbidden.text
    allowed = await route.call(client, bearer(KEYS[route.scope]))
    assert allowed.status_code == route.allowed, allowed.text


@pytest.mark.parametrize(
    "service", ["payment", "analytics", "planner", "segmenter", "content", "launcher"]
)
async def test_health_needs_no_key(apis: dict[str, httpx.AsyncClient], service: str) -> None:
    assert (await apis[service].get("/health/live")).status_code == 200


@pytest.mark.parametrize("service", ["payment", "analytics"])
@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/redoc"])
async def test_docs_need_no_key(
    apis: dict[str, httpx.AsyncClient], service: str, path: str
) -> None:
    assert (await apis[service].get(path)).status_code == 200


async def test_webhooks_are_verified_by_signature_not_by_key(
    apis: dict[str, httpx.AsyncClient],
) -> None:
    unsigned = await apis["payment"].post("/v1/webhooks/stripe", content=b"{}")

    assert unsigned.status_code == 503, unsigned.text  # no webhook secret here: not a 401


async def test_the_analytics_key_opens_analytics_and_the_reporting_reads_only(
    apis: dict[str, httpx.AsyncClient], planned_campaign: str
) -> None:
    cid = planned_campaign
    analytics_key = bearer(DEV_ONLY_ANALYTICS_API_KEY)
    calls = {
        "analytics": [f"/v1/campaigns/{cid}/report"],
        "planner": [f"/v1/campaigns/{cid}/decisions"],
        "segmenter": [f"/v1/campaigns/{cid}/decisions", "/v1/customers/count"],
        "content": [f"/v1/campaigns/{cid}/decisions"],
        "launcher": ["/v1/customers/count"],
    }
    for service, paths in calls.items():
        for path in paths:
            answer = await apis[service].get(path, headers=analytics_key)
            assert answer.status_code == 200, (service, path, answer.text)
            denied = await apis[service].get(path, headers=bearer(DEV_ONLY_PAYMENT_API_KEY))
            assert denied.status_code == 401, (service, path, denied.text)
    performance = await apis["analytics"].post(
        f"/v1/campaigns/{cid}/performance", headers=analytics_key
    )
    assert performance.status_code == 202, performance.text
    payments = await apis["payment"].get("/v1/payments", headers=analytics_key)
    assert payments.status_code == 401, payments.text


async def test_keys_are_rotated_by_rewriting_the_file_while_the_service_runs(
    infra: TestInfrastructure, tmp_path: Path
) -> None:
    keys_file = tmp_path / "api-keys"
    old, new = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    write_keys_file(keys_file, {"reader-2025": (["payments:read"], old)})
    settings = payment_settings(infra, "rotation", api_keys_file=keys_file)

    async def status_with(api: httpx.AsyncClient, key: str) -> int:
        return (await api.get("/v1/payments", headers=bearer(key))).status_code

    async with payment_api(settings) as api:
        before = (await status_with(api, old), await status_with(api, new))
        # Both valid at once while clients move to the new key...
        write_keys_file(
            keys_file,
            {"reader-2025": (["payments:read"], old), "reader-2026": (["payments:read"], new)},
        )
        during = (await status_with(api, old), await status_with(api, new))
        # ...then the old one is gone.
        write_keys_file(keys_file, {"reader-2026": (["payments:read"], new)})
        after = (await status_with(api, old), await status_with(api, new))

    assert (before, during, after) == ((200, 401), (200, 200), (401, 200))
