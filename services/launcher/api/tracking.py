"""The public tracking routes: where recipients' clicks and unsubscribes land.

No API key (recipients follow these links from their inbox), a rate limit per client
address, and signed tokens: a token that is forged, altered, signed by an unknown key or
of the wrong kind gets 404 and records nothing.

- ``GET /t/{token}``: the click is recorded with a new click id and ``engagement.clicked``
  emitted in one transaction; the answer is 302 to the variant's landing page with
  ``cid=<click id>`` added, which the storefront passes back with the payment.
- ``GET /u/{token}`` (the footer's link) and ``POST /u/{token}`` (RFC 8058's one-click
  form, what "Unsubscribe" buttons of Gmail and Yahoo send): the customer goes on the
  suppression list and ``customer.unsubscribed`` is emitted, once; the answer is a plain
  confirmation page either way.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from ipaddress import IPv4Network, IPv6Network
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from services.launcher.domain.tracking import LinkKind, TrackedLink, TrackingKeys
from services.launcher.storage.briefs import LaunchBriefs
from services.launcher.storage.suppression import SuppressionReason
from services.launcher.storage.transaction import LauncherTransaction
from shared.events.customers import CustomerUnsubscribed
from shared.events.engagement import LinkClicked
from shared.events.topics import CUSTOMER_UNSUBSCRIBED, ENGAGEMENT_CLICKED
from shared.http.client_ip import client_ip
from shared.storage.unit_of_work import UnitOfWork, retry_on_write_conflict

UNSUBSCRIBED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Unsubscribed</title></head>
<body><p>You are unsubscribed: you will get no more marketing email from us.</p></body></html>
"""


def new_click_id() -> str:
    return f"clk_{secrets.token_hex(16)}"


def with_click_id(url: str, click_id: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cid"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("cid", click_id)])))


def tracking_router(
    uow: UnitOfWork[LauncherTransaction],
    keys: TrackingKeys,
    rate: RateLimitItem,
    trusted_proxies: list[IPv4Network | IPv6Network],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    router = APIRouter(tags=["tracking"])
    limiter = MovingWindowRateLimiter(MemoryStorage())
    not_found = HTTPException(status_code=404, detail="not_found")

    async def admitted(request: Request, kind: LinkKind, token: str) -> TrackedLink:
        peer = request.client.host if request.client else None
        address = client_ip(peer, request.headers.get("x-forwarded-for"), trusted_proxies)
        if not await limiter.hit(rate, address or "unknown"):
            raise HTTPException(
                status_code=429, detail="rate_limited", headers={"Retry-After": "60"}
            )
        link = keys.verify(token)
        if link is None or link.kind is not kind:
            raise not_found
        return link

    # A click or an unsubscribe racing the launch's own writes may lose a write conflict:
    # the transaction is simply run again, never answered 500.
    @retry_on_write_conflict
    async def record_click(clicked: LinkClicked) -> None:
        async with uow as tx:
            await tx.clicks.add(clicked)
            await tx.emit(ENGAGEMENT_CLICKED, clicked, key=clicked.campaign_id)

    @retry_on_write_conflict
    async def suppress(
        customer_id: str, campaign_id: str, source: Literal["one_click", "link"], now: datetime
    ) -> None:
        async with uow as tx:
            added = await tx.suppression.add(
                customer_id, SuppressionReason.UNSUBSCRIBED, now, campaign_id
            )
            if added:
                unsubscribed = CustomerUnsubscribed(
                    customer_id=customer_id, campaign_id=campaign_id, source=source, at=now
                )
                await tx.emit(CUSTOMER_UNSUBSCRIBED, unsubscribed, key=customer_id)

    @router.get("/t/{token}", status_code=302, response_class=RedirectResponse)
    async def click(request: Request, token: str) -> RedirectResponse:
        link = await admitted(request, LinkKind.CLICK, token)
        brief = await LaunchBriefs(uow.db).get(link.campaign_id)
        piece = brief.piece(link.variant_id) if brief else None
        if piece is None:
            raise not_found
        clicked = LinkClicked(
            campaign_id=link.campaign_id,
            segment_id=link.segment_id,
            channel=link.channel,
            variant_id=link.variant_id,
            at=clock(),
            click_id=new_click_id(),
            customer_id=link.customer_id,
            source="email" if link.customer_id else "ad",
        )
        await record_click(clicked)
        return RedirectResponse(with_click_id(piece.cta_url, clicked.click_id), status_code=302)

    async def unsubscribe(
        request: Request, token: str, source: Literal["one_click", "link"]
    ) -> HTMLResponse:
        link = await admitted(request, LinkKind.UNSUBSCRIBE, token)
        if link.customer_id is None:
            raise not_found
        await suppress(link.customer_id, link.campaign_id, source, clock())
        return HTMLResponse(UNSUBSCRIBED_PAGE)

    @router.get("/u/{token}", response_class=HTMLResponse)
    async def unsubscribe_by_link(request: Request, token: str) -> HTMLResponse:
        return await unsubscribe(request, token, "link")

    @router.post("/u/{token}", response_class=HTMLResponse)
    async def unsubscribe_in_one_click(request: Request, token: str) -> HTMLResponse:
        return await unsubscribe(request, token, "one_click")

    return router
