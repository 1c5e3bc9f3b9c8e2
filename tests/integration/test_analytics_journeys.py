"""Attribution from the journey, against the real broker and database: engagement events
and payments in, revenue.recorded and the report out."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from services.analytics.app import NAME, build
from services.analytics.late_clicks import LateClicks
from services.analytics.parked_payments import ParkedPayments
from services.analytics.repository import AnalyticsTransaction
from services.analytics.settings import AnalyticsSettings
from shared.events.topics import (
    ENGAGEMENT_CLICKED,
    ENGAGEMENT_SENT,
    PAYMENT_COMPLETED,
    PAYMENT_REFUNDED,
    REVENUE_RECORDED,
    REVENUE_REVERSED,
)
from shared.runtime import Service
from shared.storage.mongo import connect, service_database
from shared.storage.unit_of_work import UnitOfWork
from tests.integration.test_analytics import api, for_payment, publish, report_once
from tests.support.factories import (
    campaign_id,
    link_clicked,
    message_sent,
    payment_completed,
    payment_refunded,
)
from tests.support.infrastructure import TestInfrastructure
from tests.support.kafka import Event, EventLog, Publisher
from tests.support.services import caught_up, running, settings_for

EMAIL_B = {"segment_id": "high_value", "channel": "email", "variant_id": "high_value-email-b"}
SOCIAL = {"segment_id": "high_value", "channel": "social", "variant_id": "high_value-social-a"}


def ad_click(cid: str, **overrides: Any) -> dict[str, Any]:
    """A click on an ad: the exchange knows its click id, not who clicked."""
    return link_clicked(
        cid, customer_id=None, source="ad", channel="social", ad_set_id="as_1", **overrides
    ) | {"variant_id": SOCIAL["variant_id"]}


async def recorded(events: EventLog, payment: dict[str, Any]) -> dict[str, Any]:
    [revenue] = await events.wait_for(REVENUE_RECORDED, for_payment(payment["payment_id"]))
    data: dict[str, Any] = revenue["data"]
    return data


async def engaged(service: Service, publisher: Publisher, cid: str, *touches: Event) -> None:
    """Publish ``(topic, data)`` touches and wait until analytics has consumed them all."""
    for topic, data in touches:
        await publish(publisher, topic, data, cid)
    for topic in {topic for topic, _ in touches}:
        await caught_up(service, topic)


async def test_a_payment_is_credited_to_the_click_it_names_whatever_the_body_claims(
    infra, publisher, events
):
    cid = campaign_id()
    sent = message_sent(cid)
    customer = sent["customer_id"]
    named = link_clicked(cid, customer_id=customer, variant_id=EMAIL_B["variant_id"])
    later = link_clicked(cid, customer_id=customer)  # variant a, clicked after the named one
    forged = {"segment_id": "vip", "channel": "web", "variant_id": "vip-web-z"}
    paid = payment_completed(
        cid, customer_id=customer, click_id=named["click_id"], attribution=forged
    )
    async with running(build, settings_for(AnalyticsSettings, infra)) as service:
        await engaged(
            service, publisher, cid,
            (ENGAGEMENT_SENT, sent), (ENGAGEMENT_CLICKED, named), (ENGAGEMENT_CLICKED, later),
        )  # fmt: skip
        await publish(publisher, PAYMENT_COMPLETED, paid, cid)
        revenue = await recorded(events, paid)
        await publish(publisher, PAYMENT_REFUNDED, payment_refunded(paid, "10.00"), cid)
        [reversal] = await events.wait_for(REVENUE_REVERSED, for_payment(paid["payment_id"]))

    assert revenue["attribution"] == EMAIL_B
    assert revenue["click_id"] == named["click_id"]
    assert (reversal["data"]["attribution"], reversal["data"]["click_id"]) == (
        EMAIL_B,
        named["click_id"],
    )


async def test_an_ad_click_named_by_a_payment_joins_the_payer_s_journey(infra, publisher, events):
    cid = campaign_id()
    click = ad_click(cid)
    customer = f"customer-of-{click['click_id']}"
    first = payment_completed(cid, customer_id=customer, click_id=click["click_id"])
    again = payment_completed(cid, customer_id=customer)  # no click id this time
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings) as service, api(settings) as http:
        await engaged(service, publisher, cid, (ENGAGEMENT_CLICKED, click))
        await publish(publisher, PAYMENT_COMPLETED, first, cid)
        credited = await recorded(events, first)
        await publish(publisher, PAYMENT_COMPLETED, again, cid)
        credited_again = await recorded(events, again)
        report = await report_once(http, cid, lambda r: len(r["payments"]) == 2)

    assert (credited["attribution"], credited["click_id"]) == (SOCIAL, click["click_id"])
    # The claimed click is the customer's touch now: it earns their next payment too.
    assert (credited_again["attribution"], credited_again["click_id"]) == (
        SOCIAL,
        click["click_id"],
    )
    [social] = report["funnel"]
    assert (social["channel"], social["clicked"], social["paid"]) == ("social", 1, 1)


async def test_a_payment_whose_click_comes_later_waits_for_it_within_the_grace(
    infra, publisher, events
):
    cid = campaign_id()
    sent = message_sent(cid)
    click = link_clicked(cid, customer_id=sent["customer_id"], variant_id=EMAIL_B["variant_id"])
    paid = payment_completed(cid, customer_id=sent["customer_id"], click_id=click["click_id"])
    settings = settings_for(AnalyticsSettings, infra, analytics_click_grace_seconds=600)
    async with running(build, settings) as service, api(settings) as http:
        await engaged(service, publisher, cid, (ENGAGEMENT_SENT, sent))
        await publish(publisher, PAYMENT_COMPLETED, paid, cid)
        await caught_up(service, PAYMENT_COMPLETED)
        waiting = await report_once(http, cid, lambda r: True)
        await publish(publisher, ENGAGEMENT_CLICKED, click, cid)
        revenue = await recorded(events, paid)

    assert waiting["awaiting_attribution"] == 1
    assert (waiting["totals"]["payments_completed"], waiting["payments"]) == (0, [])
    assert (revenue["attribution"], revenue["click_id"]) == (EMAIL_B, click["click_id"])


@contextlib.asynccontextmanager
async def late_clicks_at(
    infra: TestInfrastructure, settings: AnalyticsSettings, now: datetime
) -> AsyncIterator[LateClicks]:
    """The release job on the service's own database, its clock set to ``now``; what it
    records goes out through the running service's outbox relay."""
    client = connect(infra.mongodb, app_name="tests")
    db = service_database(client, NAME, infra.db_prefix)
    uow = UnitOfWork(client, db, source=f"/services/{NAME}", transaction=AnalyticsTransaction)
    try:
        yield LateClicks(uow, ParkedPayments(db), settings.attribution_policy, lambda: now)
    finally:
        await client.close()


async def test_a_payment_whose_click_never_comes_is_credited_by_its_touches_after_the_grace(
    infra, publisher, events
):
    cid = campaign_id()
    sent = message_sent(cid)
    unseen = f"clk_never_{cid}"
    paid = payment_completed(cid, customer_id=sent["customer_id"], click_id=unseen)
    settings = settings_for(AnalyticsSettings, infra, analytics_click_grace_seconds=600)
    async with running(build, settings) as service:
        await engaged(service, publisher, cid, (ENGAGEMENT_SENT, sent))
        await publish(publisher, PAYMENT_COMPLETED, paid, cid)
        await caught_up(service, PAYMENT_COMPLETED)
        async with late_clicks_at(infra, settings, datetime.now(UTC)) as too_early:
            assert await too_early.release_due() == 0
        after_grace = datetime.now(UTC) + timedelta(seconds=601)
        async with late_clicks_at(infra, settings, after_grace) as job:
            assert await job.release_due() >= 1  # other tests' parked payments may be due too
        revenue = await recorded(events, paid)

    assert revenue["attribution"] == EMAIL_B | {"variant_id": "high_value-email-a"}
    assert "click_id" not in revenue  # it rests on the send


async def test_a_refund_of_a_payment_waiting_for_its_click_records_it_at_once(
    infra, publisher, events
):
    cid = campaign_id()
    paid = payment_completed(cid, click_id=f"clk_never_{cid}")
    settings = settings_for(AnalyticsSettings, infra, analytics_click_grace_seconds=600)
    async with running(build, settings) as service, api(settings) as http:
        await publish(publisher, PAYMENT_COMPLETED, paid, cid)
        await caught_up(service, PAYMENT_COMPLETED)
        await publish(publisher, PAYMENT_REFUNDED, payment_refunded(paid, "149.99"), cid)
        revenue = await recorded(events, paid)
        await events.wait_for(REVENUE_REVERSED, for_payment(paid["payment_id"]))
        report = await report_once(http, cid, lambda r: r["totals"]["payments_refunded"] == 1)

    assert revenue["attribution"] == {}  # no click, no touch: organic
    assert report["awaiting_attribution"] == 0  # it waits no longer
    assert report["totals"]["payments_completed"] == 1
