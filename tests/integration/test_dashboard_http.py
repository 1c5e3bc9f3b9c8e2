"""The dashboard over HTTP against the real broker and database: only a key holding
reports:read opens it, as a bearer key or through a login whose cookie scripts cannot read;
a payment sends the page's sections again down the open stream, a decision moves the marker
the stream polls, and a stream left open does
not hold the service's shutdown."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from services.analytics.app import build
from services.analytics.dashboard.campaign_index import CampaignIndex
from services.analytics.settings import AnalyticsSettings
from shared.api_keys.keys import Scope, keys_file_line, new_key
from shared.events.topics import (
    ADS_ADJUSTED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_REALLOCATED,
    PAYMENT_COMPLETED,
)
from tests.integration.test_analytics import publish
from tests.integration.test_analytics_optimiser import adjusted, reallocated
from tests.support.factories import campaign_id, campaign_planned, payment_completed
from tests.support.services import REPORTS_AUTH, caught_up, running, settings_for


async def reports(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """Each ``report`` event's data, as the page receives it."""
    event = None
    async for line in lines:
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:") and event == "report":
            yield json.loads(line.removeprefix("data:"))


async def test_a_payment_is_pushed_to_the_open_stream_and_shutdown_ends_the_stream(
    infra, publisher
):
    cid = campaign_id()
    settings = settings_for(AnalyticsSettings, infra, dashboard_poll_seconds=0.2)
    base = f"http://127.0.0.1:{settings.analytics_api_port}"
    async with httpx.AsyncClient(base_url=base, headers=REPORTS_AUTH, timeout=30) as http:
        async with running(build, settings):
            await publish(publisher, CAMPAIGN_PLANNED, campaign_planned(cid), cid)
            await publish(publisher, PAYMENT_COMPLETED, payment_completed(cid), cid)
            stream = http.stream("GET", f"/dashboard/campaigns/{cid}/events")
            response = await stream.__aenter__()
            pushed = reports(response.aiter_lines())
            first = await anext(pushed)
            while "149.99 USD" not in first["html"]:
                first = await anext(pushed)
            await publish(publisher, PAYMENT_COMPLETED, payment_completed(cid), cid)
            second = await anext(pushed)
            while "299.98 USD" not in second["html"]:
                second = await anext(pushed)
        # The service has stopped with the stream still open: the stream has ended too.
        rest = [event async for event in pushed]
        await stream.__aexit__(None, None, None)

    assert response.headers["content-type"].startswith("text/event-stream")
    assert second["charts"]["channels-chart"]["data"][0]["type"] == "bar"
    assert rest == []


async def test_only_a_reports_key_opens_the_dashboard_and_its_login_cookie_is_locked_down(
    infra, tmp_path
):
    reports_key, payments_key = new_key(), new_key()
    keys_file = tmp_path / "api-keys"
    keys_file.write_text(
        keys_file_line("board", [Scope.REPORTS_READ], reports_key)
        + "\n"
        + keys_file_line("shop", [Scope.PAYMENTS_READ], payments_key)
        + "\n"
    )
    settings = settings_for(AnalyticsSettings, infra, api_keys_file=keys_file)
    base = f"http://127.0.0.1:{settings.analytics_api_port}"
    async with running(build, settings), httpx.AsyncClient(base_url=base) as http:
        other_scope = await http.get(
            "/dashboard/campaigns/any/events", headers={"Authorization": f"Bearer {payments_key}"}
        )
        refused = await http.post("/dashboard/login", data={"key": payments_key})
        login = await http.post(
            "/dashboard/login", data={"key": reports_key, "next": "https://evil.example/"}
        )
        cookie = login.headers["set-cookie"]
        page = await http.get("/dashboard", headers={"Cookie": cookie.split(";")[0]})

    assert other_scope.status_code == 403
    assert (refused.status_code, "set-cookie" in refused.headers) == (403, False)
    assert "reports:read" in refused.text
    assert (login.status_code, login.headers["location"]) == (303, "/dashboard")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/dashboard"} <= attributes
    assert reports_key not in cookie
    assert page.status_code == 200


async def test_a_decision_landing_moves_the_change_marker_an_open_page_polls(infra, publisher):
    cid = campaign_id()
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings) as service:
        index = CampaignIndex(service.infra.db)
        await publish(publisher, CAMPAIGN_PLANNED, campaign_planned(cid), cid)
        await caught_up(service, CAMPAIGN_PLANNED)
        planned = await index.marker(cid)
        await publish(publisher, CAMPAIGN_REALLOCATED, reallocated(cid, 0), cid)
        await caught_up(service, CAMPAIGN_REALLOCATED)
        reallocation = await index.marker(cid)
        await publish(publisher, ADS_ADJUSTED, adjusted(cid), cid)
        await caught_up(service, ADS_ADJUSTED)
        adjustment = await index.marker(cid)

    assert planned != reallocation != adjustment
