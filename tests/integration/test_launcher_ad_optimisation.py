"""The launcher's bid, pacing and budget controllers against the sandbox exchange, the real
broker and the real database: a ``campaign.evaluated`` moves the live ad sets' bids on the
exchange, each change an ``ads.adjusted`` with its reason and a decision; a
``campaign.reallocated`` rescales each channel's budgets as at launch; a cycle is applied
once however often it arrives."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pymongo.errors import AutoReconnect

from services.launcher.ads.bid_control import BidControl
from services.launcher.app import build, target_bidding
from services.launcher.domain.pacing import Pacing
from services.launcher.settings import LauncherSettings
from services.launcher.storage.ad_sets import AdSets, BoughtAdSet
from services.launcher.storage.transaction import LauncherTransaction
from shared.ai.decisions import DecisionLog
from shared.devstack.ad_auction import PlatformMarket
from shared.events.optimisation import ArmFigures, CampaignEvaluated
from shared.events.topics import (
    ADS_ADJUSTED,
    ADS_REPORTED,
    CAMPAIGN_EVALUATED,
    CAMPAIGN_LAUNCHED,
    CAMPAIGN_REALLOCATED,
)
from shared.money import Money
from shared.runtime import Service
from tests.support.ad_exchange import RunningExchange, new_account, sandbox_exchange
from tests.support.factories import campaign_id, money
from tests.support.kafka import EventLog, Publisher, cloud_event, for_campaign
from tests.support.launches import email_content, paid_content, plan, send_launch
from tests.support.services import REPORTS_AUTH, running, settings_for, until_async

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LIGHT = {
    "facebook": PlatformMarket(4, floor=150, competitor_bids=(200, 1200)),
    "instagram": PlatformMarket(2, floor=150, competitor_bids=(250, 1400)),
    "audience_network": PlatformMarket(6, floor=80, competitor_bids=(100, 900)),
}


def quiet_email_plan(cid: str) -> dict[str, Any]:
    """Email, social and web; the email window three days off, so no email goes."""
    day = WEEKDAYS[(datetime.now(UTC).weekday() + 3) % 7]
    window = {"weekday": day, "start_hour": 9, "end_hour": 11}
    return plan(cid, channels=("email", "social", "web"), windows=[window], send_now=False)


async def launched_and_reported(
    service: Service, exchange: RunningExchange, publisher: Publisher, events: EventLog, cid: str
) -> list[BoughtAdSet]:
    """The campaign launched, 15 simulated minutes of auctions, and every ad set's totals
    read back by the report job."""
    members = [(f"bidder-{cid[-8:]}-{i}", "loyal" if i % 3 else "lapsed") for i in range(12)]
    content = email_content(cid, ["lapsed", "loyal"])
    content["content"] += paid_content(cid, ["lapsed", "loyal"], ["social", "web"])
    await send_launch(publisher, cid, quiet_email_plan(cid), members, content)
    await events.wait_for(CAMPAIGN_LAUNCHED, for_campaign(cid))
    await exchange.advance(900)
    stored = AdSets(service.infra.db)
    served = sum(a.impressions for a in exchange.exchange.market.ad_sets.values() if a.campaign_id)

    async def all_read() -> bool:
        ad_sets = await stored.of_campaign(cid)
        on_exchange = {a.id: a.impressions for a in exchange.exchange.market.ad_sets.values()}
        return bool(ad_sets) and all(
            a.delivered is not None and a.delivered.impressions == on_exchange[a.ad_set_id or ""]
            for a in ad_sets
        )

    await until_async(all_read, timeout=60, what=f"the reports of {served} impressions")
    return await stored.of_campaign(cid)


def bidding_on(
    exchange: RunningExchange, infra: TestInfrastructure, account: str | None = None
) -> LauncherSettings:
    """The launcher buying on ``exchange``, its ad report job reading every 0.2 s."""
    return settings_for(
        LauncherSettings,
        infra,
        launcher_ad_platform_url=exchange.base_url,
        launcher_ad_account_id=account or new_account(),
        launcher_ads_report_seconds=0.2,
    )


async def send_evaluation(publisher: Publisher, cycle: CampaignEvaluated) -> None:
    cid, data = cycle.campaign_id, cycle.model_dump(mode="json")
    event = cloud_event(CAMPAIGN_EVALUATED, data, subject=cid)
    await publisher.send(CAMPAIGN_EVALUATED, event, cid)


def evaluated(cid: str, ad_sets: list[BoughtAdSet], cycle: int = 0) -> CampaignEvaluated:
    """Every ad set's clicks tracked, a tenth of them converting at 100.00 net each."""
    arms = []
    for a in ad_sets:
        clicks = a.delivered.clicks if a.delivered else 0
        arms.append(
            ArmFigures(
                segment_id=a.segment_id,
                channel=a.channel,
                variant_id=a.variant_id,
                exposures=clicks,
                conversions=clicks // 10,
                net=Money.of(Decimal(100) * (clicks // 10), "USD"),
            )
        )
    return CampaignEvaluated(
        campaign_id=cid,
        cycle=cycle,
        as_of=datetime.now(UTC),
        arms=arms,
        experiments=[],
        channels=[],
    )


def unique(events: EventLog, topic: str, cid: str) -> list[dict[str, Any]]:
    return list({e["id"]: e["data"] for e in events.matching(topic, for_campaign(cid))}.values())


async def test_an_evaluation_moves_bids_on_the_exchange_and_a_reallocation_rescales_budgets(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid = campaign_id()
    with sandbox_exchange(seed=5, markets=LIGHT) as exchange:
        settings = bidding_on(exchange, infra)
        async with running(build, settings) as service:
            before = await launched_and_reported(service, exchange, publisher, events, cid)
            await send_evaluation(publisher, evaluated(cid, before))
            stored = AdSets(service.infra.db)

            async def cycle_applied() -> bool:
                return all(a.adjusted_cycle == 0 for a in await stored.of_campaign(cid))

            # The launcher's evaluation consumer may first read earlier tests' cycles (analytics
            # tests evaluate every fraction of a second): a generous bound, not a timing claim.
            await until_async(cycle_applied, timeout=120, what="cycle 0 applied to every ad set")
            after_cycle = {a.key: a for a in await stored.of_campaign(cid)}
            bids_on_exchange = {a.id: a.bid for a in exchange.exchange.market.ad_sets.values()}

            social, web = Decimal("2400.00"), Decimal("500.00")
            reallocated = {
                "campaign_id": cid,
                "cycle": 0,
                "as_of": datetime.now(UTC).isoformat(),
                "previous": {
                    "email": money("2000.00"),
                    "social": money("1500.00"),
                    "web": money("1000.00"),
                },
                "allocation": {
                    "email": money("1600.00"),
                    "social": money(str(social)),
                    "web": money(str(web)),
                },
                "spent": {"social": money("0.00")},
                "remaining": money("4500.00"),
                "reasons": ["social earns more per unit of spend"],
                "rationale": "Social returns more; web gives some up.",
                "engine": "offline",
            }
            await publisher.send(
                CAMPAIGN_REALLOCATED,
                cloud_event(CAMPAIGN_REALLOCATED, reallocated, subject=cid),
                cid,
            )

            async def rebudgeted() -> bool:
                return all(a.budget_cycle == 0 for a in await stored.of_campaign(cid))

            await until_async(rebudgeted, timeout=120, what="every ad set rebudgeted")
            final = {a.key: a for a in await stored.of_campaign(cid)}
            async with httpx.AsyncClient(headers=REPORTS_AUTH) as client:
                url = f"http://127.0.0.1:{service.http_port}/v1/campaigns/{cid}/decisions"
                decisions = (await client.get(url)).json()["decisions"]
            await events.wait_for(
                ADS_ADJUSTED,
                lambda e: for_campaign(cid)(e) and e["data"]["controller"] == "reallocation",
                count=len(final),
            )

    reported = unique(events, ADS_REPORTED, cid)
    assert reported
    assert {r["bid"]["amount"] for r in reported} >= {"9.00", "6.00"}  # the launch bids
    adjusted = unique(events, ADS_ADJUSTED, cid)
    bid_changes = [a for a in adjusted if a["controller"] != "reallocation"]
    assert bid_changes, "the evaluation changed bids"
    last_bid: dict[str, str] = {}
    for change in bid_changes:
        assert change["controller"] in ("target_cpa", "pacing")
        assert change["bid"] != change["bid_before"]
        assert change["reason"]
        last_bid[change["ad_set_id"]] = change["bid"]["amount"]
    for ad_set in after_cycle.values():
        on_exchange = Decimal(bids_on_exchange[ad_set.ad_set_id or ""]) / 100
        assert ad_set.bid.amount == on_exchange  # what is stored is what the exchange bids
        if ad_set.ad_set_id in last_bid:
            assert Decimal(last_bid[ad_set.ad_set_id]) == on_exchange
    # 15 simulated minutes spent far more than the first seconds of a two-week plan: pacing
    # bid every ad set down.
    assert {a["ad_set_id"] for a in bid_changes if a["controller"] == "pacing"} == {
        a.ad_set_id for a in before
    }
    steps = [d["step"] for d in decisions]
    # The same evaluation also released an email wave: its decision is the waves'.
    assert sorted(s for s in steps if s not in ("budget", "wave")) == sorted(
        "pacing" if c["controller"] == "pacing" else "bid" for c in bid_changes
    )
    assert all(d["engine"] == "rules" and d["summary"] for d in decisions)

    budgets: dict[str, list[BoughtAdSet]] = defaultdict(list)
    for ad_set in final.values():
        budgets[ad_set.channel.value].append(ad_set)
    for channel, total in (("social", social), ("web", web)):
        assert sum(a.budget.amount for a in budgets[channel]) == total
        launch_total = sum(b.budget.amount for b in before if b.channel.value == channel)
        for ad_set in budgets[channel]:
            launch = next(b for b in before if b.key == ad_set.key).budget.amount
            assert abs(ad_set.budget.amount - launch * total / launch_total) <= Decimal("0.01")
            made = next(
                a for a in exchange.exchange.market.ad_sets.values() if a.id == ad_set.ad_set_id
            )
            assert Decimal(made.budget) / 100 == ad_set.budget.amount
    assert steps.count("budget") == len(final)
    realloc = [a for a in adjusted if a["controller"] == "reallocation"]
    assert all("reallocated" in a["reason"] for a in realloc)


async def test_bids_that_fail_after_the_wave_was_released_are_set_on_redelivery(
    infra: TestInfrastructure,
    publisher: Publisher,
    events: EventLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The wave's transaction marks the event consumed; a transient failure in the bids after
    # it (a write conflict with the report job, say) must not make the retry skip the bids.
    cid = campaign_id()
    failed = asyncio.Event()
    set_bids = BidControl.on_evaluated

    async def failing_once(control: BidControl, evaluated: CampaignEvaluated) -> Any:
        if evaluated.campaign_id == cid and not failed.is_set():
            failed.set()
            raise AutoReconnect("the database went away for a moment")
        return await set_bids(control, evaluated)

    monkeypatch.setattr(BidControl, "on_evaluated", failing_once)
    with sandbox_exchange(seed=7, markets=LIGHT) as exchange:
        settings = bidding_on(exchange, infra)
        async with running(build, settings) as service:
            before = await launched_and_reported(service, exchange, publisher, events, cid)
            await send_evaluation(publisher, evaluated(cid, before))
            await asyncio.wait_for(failed.wait(), timeout=120)
            stored = AdSets(service.infra.db)

            async def cycle_applied() -> bool:
                return all(a.adjusted_cycle == 0 for a in await stored.of_campaign(cid))

            await until_async(cycle_applied, timeout=60, what="cycle 0 applied after the retry")


async def test_a_cycle_applies_once_however_often_it_arrives(
    infra: TestInfrastructure, publisher: Publisher, events: EventLog
) -> None:
    cid, account = campaign_id(), new_account()
    with sandbox_exchange(seed=6, markets=LIGHT) as exchange:
        settings = bidding_on(exchange, infra, account)
        async with running(build, settings) as service:
            ad_sets = await launched_and_reported(service, exchange, publisher, events, cid)
            platform = exchange.platform(account)
            control = BidControl(
                platform,
                service.infra.uow.bound(LauncherTransaction),
                bidding=lambda currency, ceiling: target_bidding(settings, currency, ceiling),
                pacing=Pacing(),
                max_bids=settings.launcher_ad_max_bids,
            )
            first = await control.on_evaluated(evaluated(cid, ad_sets, cycle=3))
            again = await control.on_evaluated(evaluated(cid, ad_sets, cycle=3))
            earlier = await control.on_evaluated(evaluated(cid, ad_sets, cycle=2))
            decisions = await DecisionLog(service.infra.db).for_campaign(cid)
            await platform.close()
    assert first
    assert again == earlier == []
    assert len(decisions) == len(first)
