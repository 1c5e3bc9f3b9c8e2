"""GET /v1/payments: filters, newest first, and cursor pagination over the real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.support.factories import campaign_id, payment_request
from tests.support.payment_service import (
    WITHOUT_RISK_HOLDS,
    idempotency_key,
    payment_api,
    payment_settings,
)

if TYPE_CHECKING:
    from tests.support.infrastructure import TestInfrastructure


@pytest.fixture(scope="module")
async def api(infra: TestInfrastructure) -> AsyncIterator[httpx.AsyncClient]:
    async with payment_api(payment_settings(infra, "listing", **WITHOUT_RISK_HOLDS)) as client:
        yield client


async def pay(api: httpx.AsyncClient, cid: str, **overrides: Any) -> dict[str, Any]:
    response = await api.post(
        "/v1/payments", json=payment_request(cid, **overrides), headers=idempotency_key()
    )
    assert response.status_code in (201, 402), response.text
    payment: dict[str, Any] = response.json()
    return payment


async def every_page(api: httpx.AsyncClient, **query: Any) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        params = query | ({"cursor": cursor} if cursor else {})
        response = await api.get("/v1/payments", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_pages_of_a_campaign_list_each_payment_once_newest_first(api):
    cid = campaign_id("list")
    made = [await pay(api, cid) for _ in range(7)]

    pages = await every_page(api, campaign_id=cid, limit=3)

    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [payment for page in pages for payment in page]
    assert sorted(p["id"] for p in listed) == sorted(p["id"] for p in made)
    order = [(p["created_at"], p["id"]) for p in listed]
    assert order == sorted(order, reverse=True)  # newest first; ties by id


async def test_filters_by_customer_and_status_combine(api):
    cid = campaign_id("list")
    regular = await pay(api, cid, customer_id="list-regular")
    declined = await pay(
        api, cid, customer_id="list-regular", payment_token="pm_card_chargeDeclined"
    )
    await pay(api, cid, customer_id="list-other")

    [[failed]] = await every_page(api, customer_id="list-regular", status="failed")
    by_customer = await every_page(api, customer_id="list-regular", campaign_id=cid)

    assert failed["id"] == declined["id"]
    assert {p["id"] for p in by_customer[0]} == {declined["id"], regular["id"]}


async def test_listed_payments_carry_their_request_data_decrypted(api):
    cid = campaign_id("list")
    await pay(api, cid)

    [[listed]] = await every_page(api, campaign_id=cid)

    assert listed["ip_address"] == "127.0.0.1"
    assert listed["user_agent"].startswith("python-httpx")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"status": "lost"}, "status"),
    ],
)
async def test_bad_query_is_a_422_naming_the_parameter(api, params, field):
    response = await api.get("/v1/payments", params=params)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["error"]["errors"]] == [field]


async def test_listing_needs_the_api_key(api):
    response = await api.get("/v1/payments", headers={"Authorization": "Bearer wrong"})

    assert response.status_code == 401
