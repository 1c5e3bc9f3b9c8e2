"""The demo's shoppers read their email: the local SMTP sink's messages over HTTP, and the
tracked link in each, followed as a browser would (the launcher answers 302 to the landing
page with the click id the storefront then passes with the payment)."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

TRACKED_LINK = re.compile(r"https?://[^\s\"'<>]+/t/[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Letter:
    """One email as its recipient sees it."""

    to: str
    subject: str
    headers: dict[str, str]
    text: str

    @property
    def tracked_link(self) -> str | None:
        found = TRACKED_LINK.search(self.text)
        return found.group(0) if found else None


def letter_of(kept: dict[str, Any]) -> Letter:
    message = email.message_from_string(kept["raw"], policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # noqa: S101 - policy.default parses to EmailMessage
    part = message.get_body(preferencelist=("plain",))
    return Letter(
        to=str(message["To"]),
        subject=str(message["Subject"]),
        headers={k: str(v) for k, v in message.items()},
        text=part.get_content() if part is not None else "",
    )


async def campaign_mail(mail_url: str, campaign_id: str, limit: int = 5000) -> list[Letter]:
    async with httpx.AsyncClient(base_url=mail_url, timeout=30) as client:
        answer = await client.get("/messages", params={"campaign": campaign_id, "limit": limit})
        answer.raise_for_status()
        return [letter_of(kept) for kept in answer.json()]


@dataclass(frozen=True)
class Click:
    landing_url: str
    click_id: str


async def click_through(link: str) -> Click:
    """Follow a tracked link without following the redirect: where it lands, and the id."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=15) as browser:
        answer = await browser.get(link)
    if answer.status_code != 302:
        raise RuntimeError(f"tracked link answered {answer.status_code}: {answer.text[:200]}")
    landing = answer.headers["location"]
    [click_id] = parse_qs(urlsplit(landing).query)["cid"]
    return Click(landing, click_id)
