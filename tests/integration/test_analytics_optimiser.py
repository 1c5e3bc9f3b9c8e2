"""The optimisation cycle against the real broker and database: sends and payments in,
campaign.evaluated out with its arms, verdicts and weights; the decision log; the planner's
reallocations and the launcher's adjustments in the report."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from services.analytics.app import NAME, build
from services.analytics.optimiser import Optimiser
from services.analytics.repository import AnalyticsTransaction
from services.analytics.settings import AnalyticsSettings
from shared.events.optimisation import CampaignEvaluated
from shared.events.topics import (
    ADS_ADJUSTED,
    CAMPAIGN_EVALUATED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_REALLOCATED,
    ENGAGEMENT_SENT,
    PAYMENT_COMPLETED,
    PAYMENT_REFUNDED,
    REVENUE_RECORDED,
    REVENUE_REVERSED,
)
from shared.runtime import Service
from shared.storage.mongo import Document, connect, service_database
from shared.storage.unit_of_work import UnitOfWork
from tests.integration.test_analytics import api, for_payment, publish, report_once
from tests.integration.test_analytics_journeys import engaged
from tests.support.factories import (
    campaign_id,
    campaign_launched,
    campaign_planned,
    message_sent,
    money,
    payment_completed,
    payment_refunded,
)
from tests.support.infrastructure import TestInfrastructure
from tests.support.kafka import EventLog, Publisher, for_campaign
from tests.support.services import caught_up, running, settings_for

type Data = dict[str, Any]

A, B = "high_value-email-a", "high_value-email-b"


def sends(cid: str, variant: str, people: range) -> list[tuple[str, Data]]:
    letter = variant[-1]
    return [
        (ENGAGEMENT_SENT, message_sent(cid, customer_id=f"{cid}-{letter}{i}", variant_id=variant))
        for i in people
    ]


async def launched(publisher: Publisher, cid: str) -> None:
    ends = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    schedule = {"starts_at": datetime.now(UTC).isoformat(), "ends_at": ends}
    await publish(publisher, CAMPAIGN_PLANNED, campaign_planned(cid, schedule=schedule), cid)
    await publish(publisher, CAMPAIGN_LAUNCHED, campaign_launched(cid), cid)


async def paid(
    service: Service, publisher: Publisher, events: EventLog, cid: str, *customers: str
) -> list[Data]:
    payments = [payment_completed(cid, customer_id=f"{cid}-{who}") for who in customers]
    for payment in payments:
        await publish(publisher, PAYMENT_COMPLETED, payment, cid)
    for payment in payments:
        await events.wait_for(REVENUE_RECORDED, for_payment(payment["payment_id"]))
    await caught_up(service, PAYMENT_COMPLETED)
    return payments


async def evaluated(http: httpx.AsyncClient, cid: str) -> Data:
    response = await http.post(f"/v1/campaigns/{cid}/evaluate")
    assert response.status_code == 200, response.text
    found: Data = response.json()
    return found


def experiment(evaluation: Data) -> Data:
    [found] = evaluation["experiments"]
    return found


async def test_an_evaluation_reports_each_arm_and_weights_the_next_wave(infra, publisher, events):
    cid = campaign_id()
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings) as service, api(settings) as http:
        await launched(publisher, cid)
        await engaged(service, publisher, cid, *sends(cid, A, range(4)), *sends(cid, B, range(3)))
        _, refunded, _ = await paid(service, publisher, events, cid, "a0", "a1", "b0")
        await publish(publisher, PAYMENT_REFUNDED, payment_refunded(refunded, "50.00"), cid)
        await events.wait_for(REVENUE_REVERSED, for_payment(refunded["payment_id"]))
        answer = await evaluated(http, cid)
        [event] = await events.wait_for(CAMPAIGN_EVALUATED, for_campaign(cid))
        decisions = (await http.get(f"/v1/campaigns/{cid}/decisions")).json()["decisions"]

    # The event leaves out what is None; the answer spells it out.
    assert CampaignEvaluated.model_validate(event["data"]) == CampaignEvaluated.model_validate(
        answer
    )
    assert answer["cycle"] == 0
    arms = {arm["variant_id"]: arm for arm in answer["arms"]}
    assert (arms[A]["exposures"], arms[A]["conversions"]) == (4, 2)
    assert arms[A]["net"] == money("242.23")  # 145.34 + 145.34 less the refund's 48.45
    assert (arms[B]["exposures"], arms[B]["conversions"], arms[B]["net"]) == (
        3, 1, money("145.34"),
    )  # fmt: skip
    verdict = experiment(answer)
    assert (verdict["segment_id"], verdict["channel"], verdict["control"]) == (
        "high_value", "email", A,
    )  # fmt: skip
    assert verdict["winner"] is None  # far from the minimum sample
    assert abs(sum(verdict["weights"].values()) - 1) < 1e-9
    assert min(verdict["weights"].values()) >= 0.1  # the exploration floor
    [email] = answer["channels"]
    assert (email["net"], email["conversions"], email["marginal_roas"]) == (
        money("387.57"), 3, None,
    )  # fmt: skip
    [decision] = decisions
    assert (decision["step"], decision["engine"]) == ("experiment", "rules")
    assert decision["summary"].startswith("high_value · email: next wave")
    assert decision["output"]["weights"] == verdict["weights"]


async def test_a_skewed_assignment_is_flagged_and_keeps_the_weights_in_force(
    infra, publisher, events
):
    cid = campaign_id()
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings) as service, api(settings) as http:
        await launched(publisher, cid)
        await engaged(service, publisher, cid, *sends(cid, A, range(5)), *sends(cid, B, range(5)))
        before = experiment(await evaluated(http, cid))
        await engaged(service, publisher, cid, *sends(cid, A, range(5, 50)))  # none to b
        after = experiment(await evaluated(http, cid))

    assert all(abs(w - 0.5) < 0.05 for w in before["weights"].values())  # nothing to tell apart
    assert not before["sample_ratio_mismatch"]
    assert after["sample_ratio_mismatch"]
    assert after["srm_p_value"] < 0.001
    assert after["weights"] == before["weights"]
    assert after["winner"] is None


async def test_a_clear_winner_past_the_minimum_conversions_takes_all_traffic_for_good(
    infra, publisher, events
):
    cid = campaign_id()
    settings = settings_for(AnalyticsSettings, infra, optimiser_min_conversions=5)
    async with running(build, settings) as service, api(settings) as http:
        await launched(publisher, cid)
        await engaged(service, publisher, cid, *sends(cid, A, range(10)), *sends(cid, B, range(10)))
        buyers = ["a0", *(f"b{i}" for i in range(8))]
        await paid(service, publisher, events, cid, *buyers)
        won = experiment(await evaluated(http, cid))
        await paid(service, publisher, events, cid, *(f"a{i}" for i in range(1, 6)))
        kept = experiment(await evaluated(http, cid))

    assert (won["winner"], won["weights"]) == (B, {A: 0.0, B: 1.0})
    assert (kept["winner"], kept["weights"]) == (B, {A: 0.0, B: 1.0})  # a caught up a little


def reallocated(cid: str, cycle: int) -> Data:
    now = datetime.now(UTC).isoformat()
    return {
        "campaign_id": cid,
        "cycle": cycle,
        "as_of": now,
        "previous": {"email": money("20000.00"), "social": money("30000.00")},
        "allocation": {"email": money("24000.00"), "social": money("26000.00")},
        "spent": {"email": money("1000.00"), "social": money("4000.00")},
        "remaining": money("45000.00"),
        "reasons": ["email earned 3.10 per unit spent, social 1.20"],
        "rationale": "Email returns more per dollar.",
        "engine": "offline",
    }


def adjusted(cid: str) -> Data:
    return {
        "campaign_id": cid,
        "ad_set_id": "as_1",
        "channel": "social",
        "segment_id": "high_value",
        "variant_id": "high_value-social-a",
        "bid_before": money("9.00"),
        "bid": money("8.10"),
        "budget_before": money("5000.00"),
        "budget": money("5000.00"),
        "controller": "target_cpa",
        "reason": "cost per acquisition 11.00 over the 10.00 target",
        "at": datetime.now(UTC).isoformat(),
    }


async def test_the_report_shows_cycles_weights_reallocations_and_adjustments(
    infra, publisher, events
):
    cid = campaign_id()
    settings = settings_for(AnalyticsSettings, infra, optimiser_interval_seconds=0.2)
    reallocation, adjustment = reallocated(cid, 0), adjusted(cid)
    async with running(build, settings) as service, api(settings) as http:
        await launched(publisher, cid)
        await engaged(service, publisher, cid, *sends(cid, A, range(3)), *sends(cid, B, range(3)))
        # The schedule evaluates the live campaign with no one asking.
        await events.wait_for(
            CAMPAIGN_EVALUATED,
            lambda e: for_campaign(cid)(e) and bool(e["data"]["experiments"]),
            count=2,
        )
        for _ in range(2):  # the second re-published under a new event id
            await publish(publisher, CAMPAIGN_REALLOCATED, reallocation, cid)
            await publish(publisher, ADS_ADJUSTED, adjustment, cid)
        await caught_up(service, CAMPAIGN_REALLOCATED)
        await caught_up(service, ADS_ADJUSTED)
        report = await report_once(
            http, cid, lambda r: (r.get("optimisation") or {}).get("adjustments")
        )

    section = report["optimisation"]
    assert section["cycles"] >= 2
    assert section["latest"]["cycle"] == section["cycles"] - 1
    history = section["weights_history"]
    # One point per cycle from the first that saw both variants (the schedule may run one
    # before the sends arrive), oldest first.
    cycles = [point["cycle"] for point in history]
    assert len(cycles) >= 2
    assert cycles == list(range(cycles[0], cycles[0] + len(cycles)))
    assert {point["segment_id"] for point in history} == {"high_value"}
    [kept] = section["reallocations"]
    assert kept["allocation"]["email"] == money("24000.00")
    assert kept["cycle"] == 0
    [change] = section["adjustments"]
    assert (change["ad_set_id"], change["controller"], change["bid"]) == (
        "as_1", "target_cpa", money("8.10"),
    )  # fmt: skip
    assert Decimal(change["bid_before"]["amount"]) == Decimal("9.00")


async def test_a_campaign_analytics_never_heard_of_cannot_be_evaluated(infra):
    settings = settings_for(AnalyticsSettings, infra)
    async with running(build, settings), api(settings) as http:
        response = await http.post(f"/v1/campaigns/{campaign_id()}/evaluate")
    assert response.status_code == 404


@contextlib.asynccontextmanager
async def optimiser_on(
    infra: TestInfrastructure, settings: AnalyticsSettings
) -> AsyncIterator[tuple[Optimiser, AsyncDatabase[Document]]]:
    """An optimiser on the service's own database; what it emits goes out through the
    running service's outbox relay."""
    client = connect(infra.mongodb, app_name="tests")
    db = service_database(client, NAME, infra.db_prefix)
    uow = UnitOfWork(client, db, source=f"/services/{NAME}", transaction=AnalyticsTransaction)
    policy, interval = settings.optimiser_policy, settings.optimiser_interval_seconds
    try:
        yield Optimiser(uow, db, policy, interval, lambda: datetime.now(UTC)), db
    finally:
        await client.close()


async def test_a_campaign_that_fails_to_evaluate_is_logged_and_retried_next_round(
    infra, publisher, events, caplog
):
    good, bad = campaign_id(), campaign_id()
    settings = settings_for(AnalyticsSettings, infra)
    broken = {"_id": f"{bad}|broken", "campaign_id": bad, "touches": "not a list"}
    async with running(build, settings) as service, optimiser_on(infra, settings) as (job, db):
        for cid in (good, bad):
            await launched(publisher, cid)
        await engaged(
            service, publisher, good, *sends(good, A, range(2)), *sends(good, B, range(2))
        )
        await caught_up(service, CAMPAIGN_LAUNCHED)
        await db["journeys"].insert_one(broken)
        await job.evaluate_live()
        await events.wait_for(CAMPAIGN_EVALUATED, for_campaign(good))
        assert f"evaluating {bad} failed; retrying next cycle" in caplog.text
        await db["journeys"].delete_one({"_id": broken["_id"]})
        await job.evaluate_live()
        [retried] = await events.wait_for(CAMPAIGN_EVALUATED, for_campaign(bad))

    assert retried["data"]["cycle"] == 0
