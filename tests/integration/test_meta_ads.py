"""The Meta-shaped ad platform adapter against the sandbox exchange, over HTTP."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from services.launcher.ads.platform import (
    AdPlatformError,
    AdSetNotFoundError,
    AdSetOrder,
    Audience,
    Budget,
    BudgetKind,
    Creative,
)
from services.launcher.settings import DEV_ONLY_AD_PLATFORM_TOKEN
from shared.events.common import Channel
from shared.money import Money
from tests.support.ad_exchange import RunningExchange, new_account, sandbox_exchange


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningExchange]:
    with sandbox_exchange() as running:
        yield running


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def order(**overrides: object) -> AdSetOrder:
    campaign = f"c-{uuid.uuid4().hex[:8]}"
    made = AdSetOrder(
        key=f"{campaign}/high_value/high_value-social-a/social",
        campaign_id=campaign,
        placement=Channel.SOCIAL,
        budget=Budget(BudgetKind.LIFETIME, usd("1234.56")),
        bid=usd("9.00"),
        creative=Creative(
            headline="Made for our best customers",
            body="Quiet, wherever you are.",
            call_to_action="Shop now",
            landing_url="https://shop.example.com/p/SKU-1?utm_source=social",
        ),
        audience=Audience("high_value", "High-value customers", 1000),
        starts_at=datetime.now(UTC) - timedelta(minutes=1),
        ends_at=datetime.now(UTC) + timedelta(days=14),
    )
    return replace(made, **overrides)  # type: ignore[arg-type]


async def test_an_ad_set_is_created_in_graph_shape_with_money_in_minor_units(
    sandbox: RunningExchange,
) -> None:
    account = new_account()
    platform = sandbox.platform(account)
    wanted = order()
    ad_set_id = await platform.create_ad_set(wanted)
    await platform.close()

    [created] = sandbox.requests("POST", f"/v23.0/{account}/adsets")
    sent = created.params
    assert sent["name"] == wanted.key
    assert sent["lifetime_budget"] == "123456"
    assert sent["bid_amount"] == "900"
    assert (sent["billing_event"], sent["optimization_goal"]) == ("IMPRESSIONS", "IMPRESSIONS")
    assert sent["status"] == "ACTIVE"
    assert json.loads(sent["targeting"])["publisher_platforms"] == ["facebook", "instagram"]
    assert datetime.fromisoformat(sent["end_time"]) == wanted.ends_at
    assert created.headers["authorization"] == f"Bearer {DEV_ONLY_AD_PLATFORM_TOKEN}"
    assert "access_token" not in sent
    [ad] = sandbox.requests("POST", f"/v23.0/{account}/ads")
    link = json.loads(ad.params["creative"])["object_story_spec"]["link_data"]
    assert ad.params["adset_id"] == ad_set_id
    assert link["link"] == wanted.creative.landing_url
    assert (link["name"], link["message"]) == (wanted.creative.headline, wanted.creative.body)
    [stored] = sandbox.ad_sets(account)
    assert (stored.id, stored.budget_kind, stored.budget, stored.bid) == (
        ad_set_id,
        "lifetime",
        123456,
        900,
    )


async def test_creating_the_same_order_again_finds_the_ad_set_it_made(
    sandbox: RunningExchange,
) -> None:
    account = new_account()
    platform = sandbox.platform(account)
    wanted = order()
    first = await platform.create_ad_set(wanted)
    again = await platform.create_ad_set(wanted)
    await platform.close()
    assert again == first
    assert len(sandbox.ad_sets(account)) == 1
    assert len(sandbox.requests("POST", f"/{account}/adsets")) == 1
    assert len(sandbox.requests("POST", f"/{account}/campaigns")) == 1


async def test_a_create_whose_answer_was_lost_is_found_by_the_retry_not_made_twice(
    sandbox: RunningExchange,
) -> None:
    account = new_account()
    platform = sandbox.platform(account)
    wanted = order()
    await sandbox.fail_next({"kind": "drop", "method": "POST", "path": f"{account}/adsets"})
    ad_set_id = await platform.create_ad_set(wanted)
    await platform.close()
    assert [a.id for a in sandbox.ad_sets(account)] == [ad_set_id]
    assert len(sandbox.requests("POST", f"/{account}/adsets")) == 1
    assert len(sandbox.requests("GET", f"/{account}/adsets")) == 2  # looked up before each


async def test_server_errors_and_throttling_are_retried_until_the_call_succeeds(
    sandbox: RunningExchange,
) -> None:
    account = new_account()
    platform = sandbox.platform(account)
    path = f"{account}/adsets"
    await sandbox.fail_next(
        {"kind": "error", "status": 500, "code": 2, "method": "POST", "path": path},
        {"kind": "error", "status": 429, "code": 4, "method": "POST", "path": path},
        {"kind": "error", "status": 400, "code": 80004, "method": "POST", "path": path},
    )
    ad_set_id = await platform.create_ad_set(order())
    await platform.close()
    assert [a.id for a in sandbox.ad_sets(account)] == [ad_set_id]


async def test_a_platform_that_keeps_failing_surfaces_one_transient_error(
    sandbox: RunningExchange,
) -> None:
    account = new_account()
    platform = sandbox.platform(account, attempts=3)
    ad_set_id = await platform.create_ad_set(order())
    fault = {"kind": "error", "status": 503, "code": 2, "path": f"{ad_set_id}/insights"}
    await sandbox.fail_next(fault, fault, fault)
    with pytest.raises(AdPlatformError) as raised:
        await platform.report(ad_set_id, clicks_after=None)
    await platform.close()
    assert raised.value.transient
    assert "Scripted sandbox failure" in str(raised.value)


async def test_budget_and_bid_change_and_pause_reach_the_ad_set(sandbox: RunningExchange) -> None:
    account = new_account()
    platform = sandbox.platform(account)
    ad_set_id = await platform.create_ad_set(order())
    await platform.change(
        ad_set_id, budget=Budget(BudgetKind.LIFETIME, usd("2000.00")), bid=usd("12.50")
    )
    await platform.pause(ad_set_id)
    await platform.pause(ad_set_id)  # pausing twice is pausing once
    await platform.close()
    [changed] = sandbox.ad_sets(account)
    assert (changed.budget, changed.bid, changed.status) == (200000, 1250, "PAUSED")
    [update, *_] = sandbox.requests("POST", f"/v23.0/{ad_set_id}")
    assert update.params == {"lifetime_budget": "200000", "bid_amount": "1250"}


async def test_the_report_gives_totals_and_each_click_once_from_its_cursor(
    sandbox: RunningExchange,
) -> None:
    account = new_account()
    platform = sandbox.platform(account)
    ad_set_id = await platform.create_ad_set(order(bid=usd("30.00")))
    await sandbox.advance(600)
    first = await platform.report(ad_set_id, clicks_after=None)
    await sandbox.advance(600)
    second = await platform.report(ad_set_id, clicks_after=first.cursor)
    await platform.close()

    [delivered] = sandbox.ad_sets(account)
    assert second.impressions == delivered.impressions > first.impressions > 0
    assert second.clicks == len(delivered.clicks) == len(first.new_clicks) + len(second.new_clicks)
    assert first.new_clicks
    assert second.new_clicks
    assert usd("0.00") < first.spend < second.spend <= usd("1234.56")
    ids = [click.click_id for click in (*first.new_clicks, *second.new_clicks)]
    assert ids == [click.click_id for click in delivered.clicks]
    for click in (*first.new_clicks, *second.new_clicks):
        query = parse_qs(urlsplit(click.landing_url).query)
        assert query["cid"] == [click.click_id]
        assert query["utm_source"] == ["social"]
        assert click.at.tzinfo is not None


async def test_an_ad_set_that_has_not_delivered_reports_zeros(sandbox: RunningExchange) -> None:
    account = new_account()
    platform = sandbox.platform(account)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    ad_set_id = await platform.create_ad_set(order(starts_at=tomorrow))
    await sandbox.advance(60)
    report = await platform.report(ad_set_id, clicks_after=None)
    await platform.close()
    assert (report.impressions, report.clicks, report.spend) == (0, 0, usd("0.00"))
    assert list(report.new_clicks) == []


async def test_a_refused_token_is_a_clear_permanent_error_that_never_shows_the_token(
    sandbox: RunningExchange, caplog: pytest.LogCaptureFixture
) -> None:
    from services.launcher.ads.meta import MetaAds

    secret = "EAAB-not-the-sandbox-token-" + uuid.uuid4().hex
    platform = MetaAds(sandbox.base_url, secret, new_account(), api_version="v23.0", page_id="p")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AdPlatformError) as raised:
        await platform.create_ad_set(order())
    await platform.close()
    assert raised.value.code == 190
    assert not raised.value.transient
    assert "LAUNCHER_AD_PLATFORM_TOKEN" in str(raised.value)
    assert secret not in str(raised.value)
    assert secret not in caplog.text


async def test_an_unknown_ad_set_is_not_found(sandbox: RunningExchange) -> None:
    platform = sandbox.platform(new_account())
    with pytest.raises(AdSetNotFoundError):
        await platform.pause("120219999999999999")
    await platform.close()


async def test_what_the_platform_refuses_is_reported_at_once_with_its_reason(
    sandbox: RunningExchange,
) -> None:
    account = new_account()
    platform = sandbox.platform(account)
    ad_set_id = await platform.create_ad_set(order(bid=usd("40.00")))
    await sandbox.advance(300)
    with pytest.raises(AdPlatformError, match="cannot be below what was spent") as raised:
        await platform.change(ad_set_id, budget=Budget(BudgetKind.LIFETIME, usd("0.01")))
    await platform.close()
    assert (raised.value.code, raised.value.transient) == (100, False)
    assert len(sandbox.requests("POST", f"/v23.0/{ad_set_id}")) == 1  # not retried


async def test_an_order_in_another_currency_than_the_account_is_refused_before_any_call(
    sandbox: RunningExchange,
) -> None:
    account = new_account()
    platform = sandbox.platform(account)
    euros = Budget(BudgetKind.LIFETIME, Money.of("100.00", "EUR"))
    with pytest.raises(AdPlatformError, match="bills in USD, not EUR"):
        await platform.create_ad_set(order(budget=euros, bid=Money.of("9.00", "EUR")))
    await platform.close()
    assert sandbox.requests("POST", f"/{account}/campaigns") == []
