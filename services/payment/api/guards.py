"""What a payment request must pass before a route sees it: no card data in its body,
headers, query or path, a bounded body, an Idempotency-Key header, room among the
operations in flight; and where it came from."""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Self

from fastapi import Header, HTTPException, Request

from services.payment.api.card_data import body_contains_card_data, request_parts_with_card_data
from services.payment.domain.requests import RequestContext
from shared.http.client_ip import client_ip, is_trusted_proxy

IDEMPOTENCY_KEY = "Idempotency-Key"
# The headers the service stores (the key as an id, the user agent encrypted), reads an
# address from, or could echo; the client's country header is added when configured.
STORED_HEADERS = (IDEMPOTENCY_KEY, "User-Agent", "X-Forwarded-For")
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


@dataclass(frozen=True)
class CardDataGuard:
    """Card numbers and security codes never enter: refused before validation, so the value
    reaches no error message, log, record or event. Oversized bodies are refused unread."""

    headers: tuple[str, ...] = STORED_HEADERS

    @classmethod
    def for_clients(cls, clients: ClientPolicy) -> Self:
        country = (clients.country_header,) if clients.country_header else ()
        return cls((*STORED_HEADERS, *country))

    async def __call__(self, request: Request) -> None:
        # Every line of a repeated header: one hidden behind the first is still sent.
        headers = [
            (name, value) for name in self.headers for value in request.headers.getlist(name)
        ]
        found = request_parts_with_card_data(
            headers, request.query_params.multi_items(), request.path_params
        )
        if request.method == "POST":
            found += await _body_with_card_data(request)
        if found:
            raise CardDataError(found)


async def _body_with_card_data(request: Request) -> list[str]:
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
    return body_contains_card_data(body)


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
