"""What a payment request must pass before a route sees it: no card data, a bounded body,
an Idempotency-Key header, room among the operations in flight; and where it came from."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Annotated

from fastapi import Header, HTTPException, Request

from services.payment.api.card_data import body_contains_card_data
from services.payment.api.client_ip import client_ip, is_trusted_proxy
from services.payment.domain.requests import RequestContext

IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_BODY_BYTES = 64 * 1024  # a payment request is well under 1 KiB


@dataclass(frozen=True)
class ClientPolicy:
    """How a request's origin is read: which proxies' X-Forwarded-For and country to trust."""

    trusted_proxies: list[IPv4Network | IPv6Network]
    country_header: str | None = None

    def context(self, request: Request) -> RequestContext:
        peer = request.client.host if request.client else None
        ip = client_ip(peer, request.headers.get("x-forwarded-for"), self.trusted_proxies)
        country = None
        if self.country_header and is_trusted_proxy(peer, self.trusted_proxies):
            country = (request.headers.get(self.country_header) or "").upper()[:2] or None
        return RequestContext(
            ip_address=ip, user_agent=request.headers.get("user-agent"), ip_country=country
        )


IdempotencyKey = Annotated[
    str,
    Header(
        alias=IDEMPOTENCY_KEY,
        min_length=1,
        max_length=255,
        description="Unique per operation; a retry with the same key replays the first answer "
        "and never charges or refunds twice.",
    ),
]


class CardDataError(Exception):
    def __init__(self, fields: list[str]) -> None:
        super().__init__("card data")
        self.fields = fields


async def refuse_card_data(request: Request) -> None:
    """Card numbers and security codes never enter: refused before validation, so the value
    reaches no error message, log, record or event. Oversized bodies are refused unread."""
    if request.method != "POST":
        return
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
    found = body_contains_card_data(body)
    if found:
        raise CardDataError(found)


class Admission:
    """At most ``limit`` payment operations in flight; the rest are told to come back.

    A payment service that queues without bound answers everyone late; one that sheds the
    excess answers most clients on time and tells the others, with 503 and Retry-After,
    when to retry (with the same Idempotency-Key, so nothing is charged twice).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._in_flight = 0

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        if self._in_flight >= self._limit:
            raise HTTPException(
                503,
                f"{self._limit} payment operations are in progress; retry shortly with the "
                "same Idempotency-Key",
                headers={"Retry-After": "1"},
            )
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
