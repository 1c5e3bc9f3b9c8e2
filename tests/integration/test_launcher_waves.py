"""Email waves against the real broker, database and an SMTP sink: the launch sends its own
wave, each ``campaign.evaluated`` releases the next by its weights (once, however often it is
delivered), the launcher releases by itself when no evaluation comes, and the waves left when
the campaign ends are sent nothing. Every release is in the launcher's decision log."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from services.launcher.app import build
from services.launcher.domain.assignment import pick_variant
from services.launcher.domain.deliveries import Delivery, DeliveryStatus
from services.launcher.releasing import WaveReleaser
from services.launcher.settings import LauncherSettings
from services.launcher.storage.briefs import LaunchBriefs
from services.launcher.storage.deliveries import Deliveries
from services.launcher.storage.transaction import LauncherTransaction
from services.launcher.storage.waves import Waves
from shared.events.campaigns import CampaignContentGenerated, CampaignPlanned
from shared.events.common import Channel
from shared.events.envelope import CloudEvent
from shared.events.optimisation import CampaignEvaluated
from shared.events.topics import CAMPAIGN_EVALUATED, CAMPAIGN_LAUNCHED, ENGAGEMENT_SENT
from shared.runtime import Service
from shared.storage.mongo import connect, service_database
from shared.storage.unit_of_work import UnitOfWork
from tests.support.factories import campaign_id
from tests.support.kafka import EventLog, Publisher, cloud_event, for_campaign
from tests.support.launches import (
    email_content,
    opted_in,
    plan,
    send_customers,
    send_launch,
    until_known,
)
from tests.support.services import REPORTS_AUTH, running, settings_for, until_async
from tests.support.smtp_sink import smtp_sink

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure

A, B = "loyal-email-a", "loyal-email-b"


async def deliveries(service: Service, cid: str) -> dict[str, Delivery]:
    cursor = service.infra.db["deliveries"].find({"campaign_id": cid})
    return {doc["customer_id"]: Delivery.model_validate(doc) async for doc in cursor}


def evaluated(cid: str, cycle: int, weights: dict[str, float]) -> dict[str, Any]:
    verdict = {
        "segment_id": "loyal",
        "channel": "email",
        "control": A,
        "variants": [{"variant_id": A}, {"variant_id": B}],
        "srm_p_value": 0.5,
        "sample_ratio_mismatch": False,
        "winner": None,
        "reason": "below the minimum sample",
        "weights": weights,
    }
    return {
        "campaign_id": cid,
        "cycle": cycle,
        "as_of": datetime.now(UTC).isoformat(),
        "arms": [],
        "experiments": [verdict],
        "channels": [],
    }


async def wave_decisions(service: Service, cid: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{service.http_port}/v1/campaigns/{cid}/decisions"
    async with httpx.AsyncClient(headers=REPORTS_AUTH) as client:
        answer = await client.get(url)
    assert answer.status_code == 200, answer.text
    return [d for d in answer.json()["decisions"] if d["step"] == "wave"]


def in_wave(decided: dict[str, Delivery], wave: int) -> dict[str, Delivery]:
    return {c: d for c, d in decided.items() if d.wave == wave}


async def launch(
    service: Service, publisher: Publisher, events: EventLog, cid: str, people: int, **plan_: Any
) -> dict[str, Any]:
    customers = [f"w-{cid[-8:]}-{i}" for i in range(people)]
    await send_customers(publisher, [opted_in(c) for c in customers])
    await until_known(service.infra.db, customers)
    await send_launch(publisher, cid, plan(cid, **plan_), [(c, "loyal") for c in customers])
    [launched] = await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(cid), timeout=60)
    return launched["data"]


def sent_to(events: EventLog, cid: str) -> dict[str, str]:
    return {
        e["data"]["customer_id"]: e["data"]["variant_id"]
        for e in events.matching(ENGAGEMENT_SENT, for_campaign(cid))
    }


async def test_each_evaluation_releases_one_wave_by_its_weights_and_a_redelivery_releases_none(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog, tmp_path: Path
) -> None:
    cid = campaign_id()
    async with smtp_sink(tmp_path / "mail") as sink:
        settings = settings_for(
            LauncherSettings,
            infra,
            launcher_smtp_url=sink.url,
            launcher_holdout_share=Decimal(0),
            launcher_first_wave_share=Decimal("0.25"),
        )
        async with running(build, settings) as service:
            report = await launch(service, publisher, events, cid, 160)
            decided = await deliveries(service, cid)
            first = in_wave(decided, 0)
            # The launch's own wave went, split evenly; the later waves wait, with no variant.
            assert report["messages_accepted"] == len(first) > 0
            assert report["scheduled"] == len(decided) - len(first)
            await events.wait_for(ENGAGEMENT_SENT, for_campaign(cid), count=len(first))
            assert set(sent_to(events, cid)) == set(first)
            later = [d for d in decided.values() if d.wave != 0]
            assert {(d.status, d.variant_id) for d in later} == {(DeliveryStatus.QUEUED, None)}

            ninety = evaluated(cid, 0, {A: 0.9, B: 0.1})
            message = cloud_event(CAMPAIGN_EVALUATED, ninety, subject=cid)
            await publisher.send(CAMPAIGN_EVALUATED, message, key=cid)
            second = in_wave(decided, 1)
            sent = await events.wait_for(
                ENGAGEMENT_SENT, for_campaign(cid), count=len(first) + len(second), timeout=60
            )
            # The same evaluation again, as redelivered and as re-emitted under a new id, then
            # the next cycle: it releases wave 2, so the repeats released nothing.
            await publisher.send(CAMPAIGN_EVALUATED, message, key=cid)
            again = cloud_event(CAMPAIGN_EVALUATED, ninety, subject=cid)
            await publisher.send(CAMPAIGN_EVALUATED, again, key=cid)
            reversed_ = cloud_event(
                CAMPAIGN_EVALUATED, evaluated(cid, 1, {A: 0.1, B: 0.9}), subject=cid
            )
            await publisher.send(CAMPAIGN_EVALUATED, reversed_, key=cid)
            third = in_wave(decided, 2)
            expected = len(first) + len(second) + len(third)
            await events.wait_for(ENGAGEMENT_SENT, for_campaign(cid), count=expected, timeout=60)
            after = await deliveries(service, cid)
            decisions = await wave_decisions(service, cid)

    by_customer = sent_to(events, cid)
    assert len(sent) == len(first) + len(second)  # wave 1 went after the evaluation, no more
    for customer_id in second:
        assert by_customer[customer_id] == pick_variant(cid, customer_id, [(A, 0.9), (B, 0.1)])
    split = Counter(by_customer[c] for c in second)
    assert split[A] > split[B]
    for customer_id in third:
        assert by_customer[customer_id] == pick_variant(cid, customer_id, [(A, 0.1), (B, 0.9)])
    # Nobody's variant moved with the later weights; wave 3 still waits.
    for customer_id, delivery in after.items():
        if delivery.wave in (0, 1):
            assert delivery.variant_id == by_customer[customer_id]
    assert {d.status for d in in_wave(after, 3).values()} == {DeliveryStatus.QUEUED}
    assert [(d["output"]["wave"], d["output"]["cycle"]) for d in decisions] == [(1, 0), (2, 1)]
    assert decisions[0]["engine"] == "rules"
    assert decisions[0]["output"]["weights"] == {"loyal": {A: 0.9, B: 0.1}}
    assert decisions[0]["output"]["deliveries"] == len(second)
    assert "wave 1 of 3" in decisions[0]["summary"]


async def test_with_no_evaluation_the_launcher_releases_every_wave_itself(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog, tmp_path: Path
) -> None:
    cid = campaign_id()
    async with smtp_sink(tmp_path / "mail") as sink:
        settings = settings_for(
            LauncherSettings,
            infra,
            launcher_smtp_url=sink.url,
            launcher_holdout_share=Decimal(0),
            launcher_wave_timeout_seconds=0.2,
        )
        async with running(build, settings) as service:
            await launch(service, publisher, events, cid, 30)
            await events.wait_for(ENGAGEMENT_SENT, for_campaign(cid), count=30, timeout=60)
            decisions = await wave_decisions(service, cid)

    assert [(d["output"]["wave"], d["output"]["trigger"]) for d in decisions] == [
        (1, "timeout"),
        (2, "timeout"),
        (3, "timeout"),
    ]
    assert decisions[0]["output"]["weights"] == {"loyal": {A: 0.5, B: 0.5}}


async def test_waves_unreleased_when_the_campaign_ends_are_sent_nothing(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog, tmp_path: Path
) -> None:
    cid = campaign_id()
    async with smtp_sink(tmp_path / "mail") as sink:
        settings = settings_for(
            LauncherSettings, infra, launcher_smtp_url=sink.url, launcher_holdout_share=Decimal(0)
        )
        async with running(build, settings) as service:
            await launch(service, publisher, events, cid, 20)
            # The campaign's end, brought forward: the flight is over.
            await service.infra.db["waves"].update_one(
                {"_id": cid}, {"$set": {"ends_at": datetime.now(UTC) - timedelta(seconds=1)}}
            )

            async def ended() -> bool:
                return bool(await wave_decisions(service, cid))

            await until_async(ended, what="the end of the campaign's waves")
            decided = await deliveries(service, cid)
            [decision] = await wave_decisions(service, cid)

    later = [d for d in decided.values() if d.wave != 0]
    assert later
    assert {(d.status, d.skip_reason) for d in later} == {
        (DeliveryStatus.SKIPPED, "campaign_ended")
    }
    assert decision["output"]["unreleased"] == [1, 2, 3]
    assert decision["output"]["deliveries"] == len(later)


async def test_a_release_cut_off_before_its_deliveries_got_variants_is_finished_next_round(
    infra: TestInfrastructure,
) -> None:
    cid = campaign_id()
    client = connect(infra.mongodb, app_name="test-waves")
    db = service_database(client, "launcher_waves_test", infra.db_prefix)
    uow = UnitOfWork(client, db, source="/tests/waves", transaction=LauncherTransaction)
    try:
        briefs = LaunchBriefs(db)
        await briefs.record_planned(CampaignPlanned.model_validate(plan(cid)))
        await briefs.record_content(
            CampaignContentGenerated.model_validate(email_content(cid, ["loyal"]))
        )
        now = datetime.now(UTC)
        customers = [f"cut-{cid[-8:]}-{i}" for i in range(12)]
        await Deliveries(db).record(
            [
                Delivery(
                    campaign_id=cid,
                    customer_id=c,
                    channel=Channel.EMAIL,
                    segment_id="loyal",
                    variant_id=None,
                    status=DeliveryStatus.QUEUED,
                    send_at=now,
                    wave=1,
                    zone="UTC",
                    decided_at=now,
                    updated_at=now,
                )
                for c in customers
            ]
        )
        await Waves(db).open(cid, 2, now, now + timedelta(days=1))
        event = CloudEvent[CampaignEvaluated](
            source="/services/analytics",
            type=CAMPAIGN_EVALUATED,
            data=CampaignEvaluated.model_validate(evaluated(cid, 0, {A: 0.5, B: 0.5})),
        )
        # The release is decided, and the process stops before any delivery gets a variant.
        await WaveReleaser(uow, timeout=timedelta(hours=1)).on_evaluated(event)
        cut_off = await statuses(db, cid)
        # A new process: its first round finishes the release, and a repeat changes nothing.
        restarted = WaveReleaser(uow, timeout=timedelta(hours=1))
        await restarted.release_due()
        finished = await statuses(db, cid)
        await restarted.release_due()
        state = await Waves(db).get(cid)
    finally:
        await client.close()

    assert set(cut_off.values()) == {(DeliveryStatus.QUEUED, None)}
    assert finished == {
        c: (DeliveryStatus.SCHEDULED, pick_variant(cid, c, [(A, 0.5), (B, 0.5)])) for c in customers
    }
    assert state is not None
    assert (state.unreleased, state.pending) == ([], {})


async def statuses(db: Any, cid: str) -> dict[str, tuple[DeliveryStatus, str | None]]:
    cursor = db["deliveries"].find({"campaign_id": cid})
    return {d["customer_id"]: (DeliveryStatus(d["status"]), d["variant_id"]) async for d in cursor}
