"""The ad report job against the sandbox exchange, the real broker and the real database:
every ad click becomes one ``engagement.clicked``, however many rounds, restarts and
concurrent readers there are, and the running totals follow as ``ads.reported``."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from services.launcher.ads.buying import AdBuyer
from services.launcher.ads.meta import MetaAds
from services.launcher.ads.platform import DeliveryReport
from services.launcher.ads.reports import AdReports
from services.launcher.app import build
from services.launcher.settings import LauncherSettings
from services.launcher.storage.ad_sets import AdSets, AdSetState
from services.launcher.storage.transaction import LauncherTransaction
from shared.devstack.ad_auction import PlatformMarket
from shared.events.topics import ADS_REPORTED, ENGAGEMENT_CLICKED
from shared.runtime import Service
from tests.support.ad_briefs import ad_piece, paid_brief
from tests.support.ad_exchange import RunningExchange, new_account, sandbox_exchange
from tests.support.factories import campaign_id, money
from tests.support.kafka import EventLog, Publisher, cloud_event, for_campaign
from tests.support.services import running, settings_for

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure

BIDS = {channel: Decimal(30) for channel in LauncherSettings().launcher_ad_bids}
# Light traffic: a few hundred clicks per simulated quarter hour across a campaign's ad sets.
LIGHT = {
    "facebook": PlatformMarket(4, floor=150, competitor_bids=(200, 1200)),
    "instagram": PlatformMarket(2, floor=150, competitor_bids=(250, 1400)),
    "audience_network": PlatformMarket(6, floor=80, competitor_bids=(100, 900)),
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningExchange]:
    with sandbox_exchange(seed=3, markets=LIGHT) as running_exchange:
        yield running_exchange


def own_database(infra: TestInfrastructure) -> LauncherSettings:
    """The launcher with a database of its own: the job reads every live ad set in it."""
    prefix = f"{infra.db_prefix}{uuid.uuid4().hex[:6]}_"
    return settings_for(LauncherSettings, infra, mongodb_db_prefix=prefix)


def reports_in(service: Service, platform: Any, **options: Any) -> AdReports:
    uow = service.infra.uow.bound(LauncherTransaction)
    return AdReports(platform, uow, every_seconds=60, **options)


async def all_published(publisher: Publisher, events: EventLog, cid: str) -> None:
    """Until everything emitted for ``cid`` is in the log: a marker sent after the launcher
    stopped (and flushed its outbox) comes after them on the campaign's partition."""
    marker = {"click_id": f"marker-{uuid.uuid4().hex}"}
    await publisher.send(
        ENGAGEMENT_CLICKED, cloud_event(ENGAGEMENT_CLICKED, marker, subject=cid), cid
    )
    await events.wait_for(
        ENGAGEMENT_CLICKED, lambda e: e["data"].get("click_id") == marker["click_id"]
    )


def ad_clicks(events: EventLog, cid: str) -> list[dict[str, Any]]:
    """The campaign's ad clicks, one per event id: the outbox publishes at least once, and
    consumers drop a redelivered event by its id."""
    by_id = {
        e["id"]: e["data"]
        for e in events.matching(ENGAGEMENT_CLICKED, for_campaign(cid))
        if not e["data"]["click_id"].startswith("marker-")
    }
    return list(by_id.values())


async def test_each_click_is_emitted_once_across_rounds_and_a_restart(
    infra: TestInfrastructure, sandbox: RunningExchange, events: EventLog, publisher: Publisher
) -> None:
    settings, account, cid = own_database(infra), new_account(), campaign_id()
    platform = sandbox.platform(account)
    async with running(build, settings) as service:
        await AdBuyer(platform, AdSets(service.infra.db), BIDS).buy(paid_brief(cid))
        reports = reports_in(service, platform)
        await sandbox.advance(900)
        first = await reports.report_once()
        assert await reports.report_once() == 0  # nothing new since
        await sandbox.advance(600)
        second = await reports.report_once()
    async with running(build, settings) as restarted:
        reports = reports_in(restarted, platform)
        assert await reports.report_once() == 0
        await sandbox.advance(600)
        third = await reports.report_once()
        stored = {s.ad_set_id: s for s in await AdSets(restarted.infra.db).of_campaign(cid)}
    await platform.close()
    await all_published(publisher, events, cid)

    made = {a.id: a for a in sandbox.ad_sets(account)}
    on_exchange = [c.click_id for a in made.values() for c in a.clicks]
    emitted = ad_clicks(events, cid)
    assert min(first, second, third) > 0
    assert len(emitted) == first + second + third == len(on_exchange)
    assert sorted(e["click_id"] for e in emitted) == sorted(on_exchange)
    for clicked in emitted:
        ad_set = stored[clicked["ad_set_id"]]
        assert clicked["source"] == "ad"
        assert "customer_id" not in clicked  # no one is named on an ad click
        assert (clicked["segment_id"], clicked["variant_id"], clicked["channel"]) == (
            ad_set.segment_id,
            ad_set.variant_id,
            ad_set.channel.value,
        )
    totals = defaultdict(list)
    once = {e["id"]: e["data"] for e in events.matching(ADS_REPORTED, for_campaign(cid))}
    for reported in once.values():
        totals[reported["ad_set_id"]].append(reported)
    assert totals, "the ad sets' totals were reported"
    for ad_set_id, reported in totals.items():
        assert len(reported) <= 3  # only the rounds that saw the totals move
        last = reported[-1]
        assert int(last["impressions"]) == made[ad_set_id].impressions
        assert int(last["clicks"]) == len(made[ad_set_id].clicks)
        assert Decimal(last["spend"]["amount"]) <= Decimal(last["budget"]["amount"])


class HeldFirstReport:
    """The platform, but the first report read waits, after the read, until released."""

    def __init__(self, platform: MetaAds) -> None:
        self._platform = platform
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def report(self, ad_set_id: str, *, clicks_after: str | None) -> DeliveryReport:
        report = await self._platform.report(ad_set_id, clicks_after=clicks_after)
        if not self.arrived.is_set():
            self.arrived.set()
            await self.release.wait()
        return report

    def __getattr__(self, name: str) -> object:
        return getattr(self._platform, name)


async def test_two_readers_of_the_same_report_emit_its_clicks_once(
    infra: TestInfrastructure, sandbox: RunningExchange, events: EventLog, publisher: Publisher
) -> None:
    settings, account, cid = own_database(infra), new_account(), campaign_id()
    platform = sandbox.platform(account)
    social_only = {"email": money("100.00"), "social": money("400.00")}
    brief = paid_brief(
        cid,
        (ad_piece("high_value", "social", "a"),),
        allocation=social_only,
        budget=money("500.00"),
    )
    async with running(build, settings) as service:
        await AdBuyer(platform, AdSets(service.infra.db), BIDS).buy(brief)
        await sandbox.advance(900)
        held = HeldFirstReport(platform)
        slow = asyncio.create_task(reports_in(service, held).report_once())
        await held.arrived.wait()  # the slow reader has read the clicks, not recorded them
        fast = await reports_in(service, platform).report_once()
        held.release.set()
        assert await slow == 0
    await platform.close()
    await all_published(publisher, events, cid)
    [made] = sandbox.ad_sets(account)
    assert fast == len(made.clicks) > 0
    assert sorted(e["click_id"] for e in ad_clicks(events, cid)) == sorted(
        c.click_id for c in made.clicks
    )


async def test_an_ended_campaign_s_ad_sets_are_paused_read_once_more_then_left(
    infra: TestInfrastructure, sandbox: RunningExchange
) -> None:
    settings, account, cid = own_database(infra), new_account(), campaign_id()
    platform = sandbox.platform(account)
    after_the_end = datetime.now(UTC) + timedelta(days=15)
    async with running(build, settings) as service:
        await AdBuyer(platform, AdSets(service.infra.db), BIDS).buy(paid_brief(cid))
        await sandbox.advance(300)
        await reports_in(service, platform, now=lambda: after_the_end).report_once()
        stored = await AdSets(service.infra.db).of_campaign(cid)
        read_before = len(sandbox.requests("GET", "/insights"))
        await reports_in(service, platform, now=lambda: after_the_end).report_once()
    await platform.close()
    assert {s.state for s in stored} == {AdSetState.ENDED}
    assert {a.status for a in sandbox.ad_sets(account)} == {"PAUSED"}
    assert len(sandbox.requests("GET", "/insights")) == read_before  # no longer read
    for ad_set in stored:
        made = next(a for a in sandbox.ad_sets(account) if a.id == ad_set.ad_set_id)
        assert ad_set.delivered is not None
        assert ad_set.delivered.impressions == made.impressions
