"""The dashboard's event stream against the real broker and database: a payment sends the
page's sections again, and a stream left open does not hold the service's shutdown."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from services.analytics.app import build
from services.analytics.settings import AnalyticsSettings
from shared.events.topics import CAMPAIGN_PLANNED, PAYMENT_COMPLETED
from tests.integration.test_analytics import publish
from tests.support.factories import campaign_id, campaign_planned, payment_completed
from tests.support.services import REPORTS_AUTH, running, settings_for


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
