"""Buying a launch's paid channels on the sandbox exchange, recorded in the real database:
one ad set per segment x variant x channel, within each channel's allocation, made once
however often the buy is repeated or interrupted."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from services.launcher.ads.buying import AdBuyer
from services.launcher.ads.meta import MetaAds
from services.launcher.ads.platform import AdSetOrder
from services.launcher.settings import LauncherSettings
from services.launcher.storage.ad_sets import AdSets, AdSetState
from shared.events.common import Channel
from shared.money import Money
from shared.storage.mongo import connect, service_database
from tests.support.ad_briefs import paid_brief
from tests.support.ad_exchange import RunningExchange, new_account, sandbox_exchange
from tests.support.factories import campaign_id, money

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure

BIDS = LauncherSettings().launcher_ad_bids
ALLOCATION = {Channel.SOCIAL: Money.of("17500.00", "USD"), Channel.WEB: Money.of("12500.00", "USD")}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningExchange]:
    with sandbox_exchange() as running:
        yield running


@pytest.fixture
async def ad_sets(infra: TestInfrastructure) -> AsyncIterator[AdSets]:
    client = connect(infra.mongodb, app_name="test-ad-buying")
    db = service_database(client, "launcher", f"{infra.db_prefix}{uuid.uuid4().hex[:6]}_")
    stored = AdSets(db)
    await stored.ensure_indexes()
    yield stored
    await client.close()


class CrashAfterMaking:
    """The platform, but the process "dies" right after the ``nth`` ad set was made: the
    platform has it, the launcher never heard back."""

    def __init__(self, platform: MetaAds, nth: int) -> None:
        self._platform = platform
        self._left = nth

    async def create_ad_set(self, order: AdSetOrder) -> str:
        made = await self._platform.create_ad_set(order)
        self._left -= 1
        if self._left == 0:
            raise RuntimeError("the launcher died before recording the ad set")
        return made

    def __getattr__(self, name: str) -> object:
        return getattr(self._platform, name)


async def test_one_ad_set_per_segment_variant_and_channel_within_each_allocation(
    sandbox: RunningExchange, ad_sets: AdSets
) -> None:
    account, cid = new_account(), campaign_id()
    platform = sandbox.platform(account)
    launched = await AdBuyer(platform, ad_sets, BIDS).buy(paid_brief(cid))
    await platform.close()

    assert sorted((a.channel.value, a.segment_id, a.variant_id) for a in launched) == [
        ("social", "at_risk", "at_risk-social-a"),
        ("social", "high_value", "high_value-social-a"),
        ("social", "high_value", "high_value-social-b"),
        ("web", "at_risk", "at_risk-web-a"),
        ("web", "at_risk", "at_risk-web-b"),
        ("web", "high_value", "high_value-web-a"),
    ]
    on_exchange = {a.id: a for a in sandbox.ad_sets(account)}
    assert set(on_exchange) == {a.ad_set_id for a in launched}
    budgets: dict[Channel, int] = defaultdict(int)
    for ad_set in launched:
        made = on_exchange[ad_set.ad_set_id]
        assert made.budget == int(ad_set.budget.amount * 100)
        assert made.bid == int(ad_set.bid.amount * 100)
        assert made.budget_kind == "lifetime"
        budgets[ad_set.channel] += made.budget
    assert budgets == {Channel.SOCIAL: 1_750_000, Channel.WEB: 1_250_000}
    stored = await ad_sets.of_campaign(cid)
    assert {(s.ad_set_id, s.state) for s in stored} == {
        (a.ad_set_id, AdSetState.LIVE) for a in launched
    }


async def test_buying_again_makes_nothing_twice(sandbox: RunningExchange, ad_sets: AdSets) -> None:
    account, cid = new_account(), campaign_id()
    platform = sandbox.platform(account)
    buyer = AdBuyer(platform, ad_sets, BIDS)
    first = await buyer.buy(paid_brief(cid))
    again = await buyer.buy(paid_brief(cid))
    await platform.close()
    assert again == first
    assert len(sandbox.ad_sets(account)) == 6
    assert len(sandbox.requests("POST", f"/{account}/adsets")) == 6


async def test_a_buy_interrupted_after_the_platform_made_an_ad_set_resumes_without_a_second(
    sandbox: RunningExchange, ad_sets: AdSets
) -> None:
    account, cid = new_account(), campaign_id()
    platform = sandbox.platform(account)
    with pytest.raises(RuntimeError, match="died"):
        await AdBuyer(CrashAfterMaking(platform, nth=3), ad_sets, BIDS).buy(paid_brief(cid))  # type: ignore[arg-type]
    states = [s.state for s in await ad_sets.of_campaign(cid)]
    assert sorted(states) == [AdSetState.LIVE, AdSetState.LIVE, AdSetState.ORDERED]

    launched = await AdBuyer(platform, ad_sets, BIDS).buy(paid_brief(cid))
    await platform.close()
    names = [a.name for a in sandbox.ad_sets(account)]
    assert len(names) == len(set(names)) == len(launched) == 6
    assert len(sandbox.requests("POST", f"/{account}/adsets")) == 6
    assert {a.ad_set_id for a in launched} == {a.id for a in sandbox.ad_sets(account)}


async def test_spend_stays_within_each_channel_s_allocation_over_a_long_run(
    ad_sets: AdSets,
) -> None:
    with sandbox_exchange(seed=11) as sandbox:  # its own market: no other test's ad sets
        await spend_for_six_hours(sandbox, ad_sets)


async def spend_for_six_hours(sandbox: RunningExchange, ad_sets: AdSets) -> None:
    account, cid = new_account(), campaign_id()
    platform = sandbox.platform(account)
    small = {"email": money("10.00"), "social": money("5.00"), "web": money("3.00")}
    brief = paid_brief(cid, allocation=small, budget=money("18.00"))
    launched = await AdBuyer(platform, ad_sets, {c: Decimal(30) for c in BIDS}).buy(brief)
    await sandbox.advance(6 * 3600)
    spent: dict[Channel, Money] = defaultdict(lambda: Money.zero("USD"))
    for ad_set in launched:
        report = await platform.report(ad_set.ad_set_id, clicks_after=None)
        assert report.spend <= ad_set.budget
        spent[ad_set.channel] += report.spend
    await platform.close()
    assert spent[Channel.SOCIAL] <= Money.of("5.00", "USD")
    assert spent[Channel.WEB] <= Money.of("3.00", "USD")
    # The budgets ran out: every ad set spent all but less than one impression's price.
    for made in sandbox.ad_sets(account):
        assert made.budget - made.spend < made.bid / Decimal(1000)
