"""The launcher against the real broker and database: who is sent what, tracked clicks and
unsubscribes, and one launch per campaign whatever the order its inputs arrive in.

Email here is scheduled for send windows that are not open now, so these tests read the
launcher's decisions without sending; the email channel's own tests send them.
"""

from __future__ import annotations

import base64
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.launcher.app import build
from services.launcher.domain.assignment import held_out
from services.launcher.domain.deliveries import Delivery, DeliveryStatus
from services.launcher.domain.tracking import LinkKind, TrackedLink, TrackingKeys
from services.launcher.settings import DEV_ONLY_TRACKING_KEYS, LauncherSettings
from services.launcher.storage.deliveries import Deliveries
from shared.events.common import Channel
from shared.events.topics import (
    ADS_REPORTED,
    CAMPAIGN_LAUNCHED,
    CUSTOMER_UNSUBSCRIBED,
    ENGAGEMENT_CLICKED,
    ENGAGEMENT_HELD_OUT,
)
from shared.runtime import Service
from tests.support.ad_exchange import new_account, sandbox_exchange
from tests.support.factories import campaign_id
from tests.support.infrastructure import free_port
from tests.support.kafka import EventLog, Publisher, cloud_event, for_campaign
from tests.support.launches import (
    LANDING,
    email_content,
    opted_in,
    paid_content,
    plan,
    send_customers,
    send_launch,
    until_known,
)
from tests.support.services import running, settings_for, until_async

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEYS = TrackingKeys.parse(DEV_ONLY_TRACKING_KEYS)


def closed_window() -> dict[str, Any]:
    """A two-hour window three days from now: closed now in every zone on Earth."""
    day = WEEKDAYS[(datetime.now(UTC).weekday() + 3) % 7]
    return {"weekday": day, "start_hour": 9, "end_hour": 11}


def later(cid: str, **overrides: Any) -> dict[str, Any]:
    return plan(cid, windows=[closed_window()], send_now=False, **overrides)


async def deliveries(service: Service, cid: str) -> dict[str, Delivery]:
    cursor = service.infra.db["deliveries"].find({"campaign_id": cid})
    return {doc["customer_id"]: Delivery.model_validate(doc) async for doc in cursor}


async def test_the_recipient_set_follows_consent_suppression_the_cap_the_holdout_and_local_windows(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    tag = cid[-8:]
    zones = ("Asia/Tokyo", "America/New_York", "Europe/Paris")
    eligible = [f"ok-{tag}-{i}" for i in range(40)]
    records = [opted_in(c, timezone=zones[i % 3]) for i, c in enumerate(eligible)]
    no_consent, suppressed, capped, unknown = (f"{k}-{tag}" for k in ("nc", "sup", "cap", "ghost"))
    records += [opted_in(no_consent, email_opt_in=False), opted_in(suppressed), opted_in(capped)]
    members = [(c, "loyal" if i % 2 else "lapsed") for i, c in enumerate(eligible)]
    members += [(c, "loyal") for c in (no_consent, suppressed, capped, unknown)]
    share = Decimal("0.3")
    settings = settings_for(LauncherSettings, infra, launcher_holdout_share=share)
    async with running(build, settings) as service:
        await send_customers(publisher, records)
        unsubscribed = {
            "customer_id": suppressed,
            "source": "link",
            "at": datetime.now(UTC).isoformat(),
        }
        await publisher.send(
            CUSTOMER_UNSUBSCRIBED,
            cloud_event(CUSTOMER_UNSUBSCRIBED, unsubscribed, subject=suppressed),
            key=suppressed,
        )
        # Three messages decided this week by other campaigns: the cap is reached.
        now = datetime.now(UTC)
        await Deliveries(service.infra.db).record(
            [
                Delivery(
                    campaign_id=f"earlier-{tag}-{n}",
                    customer_id=capped,
                    channel=Channel.EMAIL,
                    segment_id="loyal",
                    variant_id="v",
                    status=DeliveryStatus.SENT,
                    decided_at=now - timedelta(days=n + 1),
                    updated_at=now,
                )
                for n in range(3)
            ]
        )
        await until_known(service.infra.db, [r["customer_id"] for r in records])
        await until_suppressed(service, suppressed)
        await send_launch(publisher, cid, later(cid), members)
        [launched] = await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(cid))
        decided = await deliveries(service, cid)

    holdout = {c for c in eligible if held_out(cid, c, share)}
    assert 0 < len(holdout) < len(eligible)  # the draw splits this audience
    by_status = Counter(d.status for d in decided.values())
    assert set(decided) == {c for c, _ in members}  # one decision per member, no more
    assert {c: d.skip_reason for c, d in decided.items() if d.status is DeliveryStatus.SKIPPED} == {
        no_consent: "no_consent",
        suppressed: "suppressed",
        capped: "frequency_capped",
        unknown: "no_address",
    }
    assert {c for c, d in decided.items() if d.status is DeliveryStatus.HELD_OUT} == holdout
    # The launch's own wave is scheduled with a variant; later waves are queued without one.
    waiting = (DeliveryStatus.SCHEDULED, DeliveryStatus.QUEUED)
    scheduled = {c: d for c, d in decided.items() if d.status in waiting}
    assert set(scheduled) == set(eligible) - holdout
    assert {d.status for d in scheduled.values()} == set(waiting)
    window = closed_window()
    for customer_id, delivery in scheduled.items():
        zone = ZoneInfo(zones[eligible.index(customer_id) % 3])
        local = delivery.send_at.astimezone(zone) if delivery.send_at else None
        assert local is not None
        assert (WEEKDAYS[local.weekday()], local.hour) == (window["weekday"], 9)
        segment = dict(members)[customer_id]
        variants = {f"{segment}-email-a", f"{segment}-email-b"} if delivery.wave == 0 else {None}
        assert delivery.variant_id in variants
    report = launched["data"]
    assert report["reach"] == {"email": len(scheduled)}
    assert (report["scheduled"], report["held_out"], report["messages_accepted"]) == (
        len(scheduled),
        len(holdout),
        0,
    )
    assert report["skipped"] == {
        "no_consent": 1,
        "suppressed": 1,
        "frequency_capped": 1,
        "no_address": 1,
    }
    assert by_status[DeliveryStatus.SENT] == 0  # quiet hours: nothing goes before the window
    held = await events.wait_for(ENGAGEMENT_HELD_OUT, for_campaign(cid), count=len(holdout))
    assert {e["data"]["customer_id"] for e in held} == holdout


async def until_suppressed(service: Service, customer_id: str) -> None:
    async def listed() -> bool:
        return await service.infra.db["suppression"].find_one({"_id": customer_id}) is not None

    await until_async(listed, what=f"{customer_id} on the suppression list")


def api(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}")


async def test_a_tracked_click_redirects_with_a_click_id_and_a_forged_token_records_nothing(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    customer = f"clicker-{cid[-8:]}"
    link = TrackedLink(LinkKind.CLICK, cid, "loyal", Channel.EMAIL, "loyal-email-b", customer)
    token = KEYS.sign(link)
    other_key = TrackingKeys.parse("t1:" + base64.b64encode(b"x" * 32).decode())
    forged = [
        other_key.sign(link),  # the same key id, another key
        token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
        KEYS.sign(
            TrackedLink(
                LinkKind.UNSUBSCRIBE, cid, "loyal", Channel.EMAIL, "loyal-email-b", customer
            )
        ),
        "t1.e30.AAAA",
    ]
    async with running(build, settings_for(LauncherSettings, infra)) as service:
        await send_customers(publisher, [opted_in(customer)])
        await until_known(service.infra.db, [customer])
        await send_launch(publisher, cid, later(cid), [(customer, "loyal")])
        await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(cid))
        async with api(service) as client:
            refused = [(await client.get(f"/t/{bad}")).status_code for bad in forged]
            answer = await client.get(f"/t/{token}")
            clicks = await service.infra.db["clicks"].count_documents({"campaign_id": cid})

    assert refused == [404] * len(forged)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == LANDING
    assert query["utm_content"] == ["loyal-email-b"]
    [click_id] = query["cid"]
    [clicked] = await events.wait_for(ENGAGEMENT_CLICKED, for_campaign(cid))
    assert clicked["data"] | {"at": None} == {
        "campaign_id": cid,
        "segment_id": "loyal",
        "channel": "email",
        "variant_id": "loyal-email-b",
        "click_id": click_id,
        "customer_id": customer,
        "source": "email",
        "at": None,
    }
    assert clicks == 1  # the forged ones recorded nothing


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_an_unsubscribe_is_honoured_by_the_next_campaign(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog, method: str
) -> None:
    first, second = campaign_id(), campaign_id()
    customer = f"leaver-{first[-8:]}"
    # One wave: the customer has a variant at launch, so a link to unsubscribe by.
    settings = settings_for(
        LauncherSettings, infra, launcher_holdout_share=Decimal(0), launcher_waves=1
    )
    async with running(build, settings) as service:
        await send_customers(publisher, [opted_in(customer)])
        await until_known(service.infra.db, [customer])
        await send_launch(publisher, first, later(first), [(customer, "loyal")])
        await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(first))
        variant = (await deliveries(service, first))[customer].variant_id
        assert variant is not None
        token = KEYS.sign(
            TrackedLink(LinkKind.UNSUBSCRIBE, first, "loyal", Channel.EMAIL, variant, customer)
        )
        async with api(service) as client:
            # RFC 8058's one-click POST carries "List-Unsubscribe=One-Click" as its form body.
            answers = [
                await client.request(method, f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
                for _ in range(2)
            ]
        await send_launch(publisher, second, later(second), [(customer, "loyal")])
        [launched] = await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(second))
        decided = (await deliveries(service, second))[customer]

    assert [a.status_code for a in answers] == [200, 200]
    assert "unsubscribed" in answers[0].text
    [unsubscribed] = await events.wait_for(
        CUSTOMER_UNSUBSCRIBED, lambda e: e["data"]["customer_id"] == customer
    )
    assert unsubscribed["data"]["source"] == ("one_click" if method == "POST" else "link")
    assert unsubscribed["data"]["campaign_id"] == first
    assert (decided.status, decided.skip_reason) == (DeliveryStatus.SKIPPED, "suppressed")
    assert launched["data"]["skipped"] == {"suppressed": 1}
    # Asked twice, unsubscribed once.
    assert (
        len(events.matching(CUSTOMER_UNSUBSCRIBED, lambda e: e["data"]["customer_id"] == customer))
        == 1
    )


async def test_a_campaign_launches_once_whatever_the_order_and_redelivery_of_its_inputs(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cids = [campaign_id() for _ in range(3)]
    customer = f"once-{cids[0][-8:]}"
    async with running(build, settings_for(LauncherSettings, infra)) as service:
        await send_customers(publisher, [opted_in(customer)])
        await until_known(service.infra.db, [customer])
        # Each twice: every input redelivered, the consumers racing on completion.
        for _ in range(2):
            for cid in cids:
                await send_launch(publisher, cid, later(cid), [(customer, "loyal")])
        for cid in cids:
            await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(cid))
        # A later campaign on each one's partitions: once they launched, all was read.
        sentinels = {campaign_id(): cid for cid in cids}
        for sentinel, cid in sentinels.items():
            await send_launch(publisher, sentinel, later(sentinel), [(customer, "loyal")], key=cid)
        for sentinel in sentinels:
            await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(sentinel))
        stored = {cid: len(await deliveries(service, cid)) for cid in cids}
    for cid in cids:
        assert len(events.matching(CAMPAIGN_LAUNCHED, for_campaign(cid))) == 1
    assert stored == dict.fromkeys(cids, 1)


async def test_paid_channels_buy_ad_sets_per_segment_and_variant_within_budget_and_report_clicks(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    members = [(f"buyer-{cid[-8:]}-{i}", "loyal" if i % 3 else "lapsed") for i in range(12)]
    content = email_content(cid, ["lapsed", "loyal"])
    content["content"] += paid_content(cid, ["lapsed", "loyal"], ["social", "web"])
    planned = later(cid, channels=("email", "social", "web"))
    with sandbox_exchange() as exchange:
        settings = settings_for(
            LauncherSettings,
            infra,
            launcher_ad_platform_url=exchange.base_url,
            launcher_ad_account_id=new_account(),
            launcher_ads_report_seconds=0.2,
        )
        async with running(build, settings):
            await send_launch(publisher, cid, planned, members, content)
            [launched] = await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(cid))
            await exchange.advance(600)
            [clicked, *_] = await events.wait_for(ENGAGEMENT_CLICKED, for_campaign(cid), timeout=60)
            [reported, *_] = await events.wait_for(ADS_REPORTED, for_campaign(cid), timeout=60)

    ad_sets = launched["data"]["ad_sets"]
    assert sorted((a["channel"], a["segment_id"], a["variant_id"]) for a in ad_sets) == sorted(
        (channel, segment, f"{segment}-{channel}-{letter}")
        for channel in ("social", "web")
        for segment in ("lapsed", "loyal")
        for letter in "ab"
    )
    for channel in ("social", "web"):
        budgets = [Decimal(a["budget"]["amount"]) for a in ad_sets if a["channel"] == channel]
        assert sum(budgets) <= Decimal(planned["allocation"][channel]["amount"])
    by_id = {a["ad_set_id"]: a for a in ad_sets}
    click = clicked["data"]
    assert (click["source"], click.get("customer_id")) == ("ad", None)
    assert by_id[click["ad_set_id"]]["variant_id"] == click["variant_id"]
    spent = reported["data"]
    assert Decimal(spent["spend"]["amount"]) <= Decimal(spent["budget"]["amount"])


async def test_a_campaign_whose_ads_cannot_be_bought_does_not_hold_up_the_launches_after_it(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    stuck, free = campaign_id(), campaign_id()
    customer = f"queue-{free[-8:]}"
    content = email_content(stuck, ["loyal"])
    content["content"] += paid_content(stuck, ["loyal"], ["social"])
    # No ad platform answers at this address: buying the first campaign's ads fails each round.
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = settings_for(LauncherSettings, infra, launcher_ad_platform_url=nowhere)
    async with running(build, settings) as service:
        await send_customers(publisher, [opted_in(customer)])
        await until_known(service.infra.db, [customer])
        paid = later(stuck, channels=("email", "social"))
        await send_launch(publisher, stuck, paid, [(customer, "loyal")], content)
        await until_async(lambda: launch_of(service, stuck))
        await send_launch(publisher, free, later(free), [(customer, "loyal")])
        await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(free))

    assert events.matching(CAMPAIGN_LAUNCHED, for_campaign(stuck)) == []


async def launch_of(service: Service, cid: str) -> bool:
    return await service.infra.db["launches"].find_one({"_id": cid}) is not None
