"""One trace across HTTP, the outbox and Kafka, from the spans the services finish."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.analytics.app import build as build_analytics
from services.analytics.settings import AnalyticsSettings
from services.launcher.app import build as build_launcher
from services.launcher.settings import LauncherSettings
from shared.events.topics import (
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    PAYMENT_COMPLETED,
    REVENUE_RECORDED,
)
from shared.tracing import traced_http
from tests.support.factories import (
    campaign_id,
    campaign_planned,
    payment_completed,
    payment_request,
)
from tests.support.kafka import EventLog, Publisher, cloud_event, for_campaign
from tests.support.launches import opted_in, plan, send_customers, send_launch, until_known
from tests.support.payment_service import (
    WITHOUT_RISK_HOLDS,
    idempotency_key,
    payment_api,
    payment_settings,
)
from tests.support.services import caught_up, running, settings_for, until
from tests.support.tracing import hex_ids, recorded_spans, span_id_of, trace_id_of

if TYPE_CHECKING:  # imported by name, pytest would try to collect it as a test class
    from tests.support.infrastructure import TestInfrastructure


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    yield from recorded_spans()


def analytics_settings(infra: TestInfrastructure) -> AnalyticsSettings:
    # No click grace: a payment's revenue is recorded at once, not parked for its click.
    return settings_for(AnalyticsSettings, infra, analytics_click_grace_seconds=0)


def in_trace(spans: InMemorySpanExporter, trace_id: str) -> dict[str, ReadableSpan]:
    """The trace's finished spans by span id."""
    return {
        hex_ids(span)[1]: span
        for span in spans.get_finished_spans()
        if hex_ids(span)[0] == trace_id
    }


def named(trace: dict[str, ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in trace.values() if span.name == name]


def ancestors(trace: dict[str, ReadableSpan], span_id: str) -> list[str]:
    """``span_id`` and the ids of its ancestors in ``trace``, nearest first."""
    chain = [span_id]
    while (parent := hex_ids(trace[chain[-1]])[2]) is not None and parent in trace:
        chain.append(parent)
    return chain


def random_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


async def test_one_trace_follows_a_payment_from_its_post_through_the_outboxes_to_its_revenue(
    infra: TestInfrastructure, events: EventLog, spans: InMemorySpanExporter
) -> None:
    cid = campaign_id()
    payments = payment_settings(infra, "tracing", **WITHOUT_RISK_HOLDS)
    async with running(build_analytics, analytics_settings(infra)), payment_api(payments) as api:
        posted = await api.post(
            "/v1/payments", json=payment_request(cid), headers=idempotency_key()
        )
        assert posted.status_code == 201, posted.text
        [completed] = await events.wait_for(PAYMENT_COMPLETED, for_campaign(cid))
        [revenue] = await events.wait_for(REVENUE_RECORDED, for_campaign(cid), timeout=60)
        trace_id = trace_id_of(completed["traceparent"])
        await until(
            lambda: named(in_trace(spans, trace_id), f"{REVENUE_RECORDED} publish"),
            what="the analytics relay's publish span",
        )

    trace = in_trace(spans, trace_id)
    [post] = [s for s in named(trace, "POST /v1/payments") if s.kind == SpanKind.SERVER]
    post_id = hex_ids(post)[1]
    # The payment was emitted inside the request's span, whose context its envelope carries.
    assert post_id in ancestors(trace, span_id_of(completed["traceparent"]))
    # The payment relay published it in the same trace.
    [relayed] = named(trace, f"{PAYMENT_COMPLETED} publish")
    assert post_id in ancestors(trace, hex_ids(relayed)[1])
    # Analytics consumed it as a child of the envelope's span, not of the relay's.
    [consumed] = named(trace, f"{PAYMENT_COMPLETED} process")
    assert consumed.kind == SpanKind.CONSUMER
    assert hex_ids(consumed)[2] == span_id_of(completed["traceparent"])
    # ...and emitted the revenue inside that span, which its relay published, still one trace.
    assert trace_id_of(revenue["traceparent"]) == trace_id
    assert span_id_of(revenue["traceparent"]) == hex_ids(consumed)[1]
    [published] = named(trace, f"{REVENUE_RECORDED} publish")
    assert hex_ids(consumed)[1] in ancestors(trace, hex_ids(published)[1])
    assert revenue["data"]["payment_id"] == posted.json()["id"]
    assert not [s for s in spans.get_finished_spans() if "/health" in s.name]  # probes untraced


async def test_consumer_continues_the_envelopes_trace_over_the_headers_and_untraced_events_consume(
    infra: TestInfrastructure,
    events: EventLog,
    publisher: Publisher,
    spans: InMemorySpanExporter,
) -> None:
    cid = campaign_id()
    traced, untraced = payment_completed(cid), payment_completed(cid)
    envelope_context, header_context = random_traceparent(), random_traceparent()
    async with running(build_analytics, analytics_settings(infra)):
        event = cloud_event(PAYMENT_COMPLETED, traced, subject=cid, traceparent=envelope_context)
        # A republisher stamped its own context on the headers: the envelope's still wins.
        await publisher.send(
            PAYMENT_COMPLETED, event, key=cid, headers={"traceparent": header_context}
        )
        await publisher.send(
            PAYMENT_COMPLETED, cloud_event(PAYMENT_COMPLETED, untraced, subject=cid), key=cid
        )
        revenues = await events.wait_for(REVENUE_RECORDED, for_campaign(cid), count=2, timeout=60)

    by_payment = {revenue["data"]["payment_id"]: revenue for revenue in revenues}
    continued = by_payment[traced["payment_id"]]["traceparent"]
    assert trace_id_of(continued) == trace_id_of(envelope_context)
    [consumed] = named(
        in_trace(spans, trace_id_of(envelope_context)), f"{PAYMENT_COMPLETED} process"
    )
    assert hex_ids(consumed)[2] == span_id_of(envelope_context)
    assert in_trace(spans, trace_id_of(header_context)) == {}
    # An event without trace context is consumed as before, starting a trace of its own.
    started = by_payment[untraced["payment_id"]]["traceparent"]
    assert trace_id_of(started) not in {trace_id_of(envelope_context), trace_id_of(header_context)}


async def test_a_campaigns_trace_goes_on_through_its_launch_in_the_background(
    infra: TestInfrastructure,
    events: EventLog,
    publisher: Publisher,
    spans: InMemorySpanExporter,
) -> None:
    cid = campaign_id()
    customer = f"traced-{cid[-8:]}"
    # The plan, segments, content and audience of one campaign.requested's trace.
    campaign_trace = random_traceparent()
    async with running(build_launcher, settings_for(LauncherSettings, infra)) as launcher:
        await send_customers(publisher, [opted_in(customer)])
        await until_known(launcher.infra.db, [customer])
        await send_launch(
            publisher, cid, plan(cid), [(customer, "loyal")], traceparent=campaign_trace
        )
        [launched] = await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(cid), timeout=60)

    # The launch ran in the background, after the input completing the brief was handled:
    # campaign.launched names that input's span as its parent.
    assert trace_id_of(launched["traceparent"]) == trace_id_of(campaign_trace)
    handled = {
        hex_ids(span)[1]
        for span in in_trace(spans, trace_id_of(campaign_trace)).values()
        if span.name.endswith(" process") and hex_ids(span)[2] == span_id_of(campaign_trace)
    }
    assert span_id_of(launched["traceparent"]) in handled


async def test_a_starlette_service_traces_its_requests_but_not_its_probes(
    spans: InMemorySpanExporter,
) -> None:
    async def accept(_: Request) -> JSONResponse:
        return JSONResponse({"planned": True})

    app = Starlette(routes=[Route("/v1/plans", accept, methods=["POST"])])
    transport = httpx.ASGITransport(app=traced_http(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://planner") as client:
        assert (await client.post("/v1/plans")).status_code == 200
        assert (await client.get("/health/live")).status_code == 404

    served = [s.name for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert "POST /v1/plans" in served
    assert not [name for name in served if "/health" in name]


async def test_a_payments_trace_links_to_its_campaigns_so_the_campaign_reaches_its_revenue(
    infra: TestInfrastructure,
    events: EventLog,
    publisher: Publisher,
    spans: InMemorySpanExporter,
) -> None:
    # A revenue event has one parent, the payment's span; the campaign's trace, from its
    # request through its plan, reaches it by a link.
    cid = campaign_id()
    campaign_trace, payment_trace = random_traceparent(), random_traceparent()
    paid = payment_completed(cid)
    async with running(build_analytics, analytics_settings(infra)) as service:
        planned = cloud_event(
            CAMPAIGN_PLANNED, campaign_planned(cid), subject=cid, traceparent=campaign_trace
        )
        await publisher.send(CAMPAIGN_PLANNED, planned, key=cid)
        # The plan's trace is kept when the plan is read, on a topic of its own: read it first.
        await caught_up(service, CAMPAIGN_PLANNED, timeout=120)
        event = cloud_event(PAYMENT_COMPLETED, paid, subject=cid, traceparent=payment_trace)
        await publisher.send(PAYMENT_COMPLETED, event, key=cid)
        [revenue] = await events.wait_for(REVENUE_RECORDED, for_campaign(cid), timeout=60)

    assert trace_id_of(revenue["traceparent"]) == trace_id_of(payment_trace)
    linked = {
        (format(link.context.trace_id, "032x"), link.attributes.get("campaign.id"))
        for span in in_trace(spans, trace_id_of(payment_trace)).values()
        for link in span.links
        if link.attributes
    }
    assert (trace_id_of(campaign_trace), cid) in linked
