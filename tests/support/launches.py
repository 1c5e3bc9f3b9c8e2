"""A campaign's launch inputs for the launcher's tests: plan, segments, audience, content."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.events.topics import (
    CAMPAIGN_AUDIENCE,
    CAMPAIGN_CONTENT_GENERATED,
    CAMPAIGN_PLANNED,
    CAMPAIGN_SEGMENTED,
    CUSTOMER_UPSERTED,
)
from tests.support.factories import campaign_planned, customer, money
from tests.support.kafka import Publisher, cloud_event
from tests.support.services import until_async

LANDING = "https://shop.example.com/p/SKU-HEADPHONES-01"
FOOTER = "--\nUnsubscribe: {unsubscribe_url}\nExample Shop, 1 Test Street, Springfield, USA"


def plan(
    cid: str,
    *,
    channels: Sequence[str] = ("email",),
    windows: list[dict[str, Any]] | None = None,
    send_now: bool = True,
    ends_in: timedelta = timedelta(days=14),
    starts_at: datetime | None = None,
) -> dict[str, Any]:
    """A plan starting now (or at ``starts_at``) whose email goes at once, or in ``windows``
    when not ``send_now``."""
    now = starts_at or datetime.now(UTC)
    amounts = {"email": "2000.00", "social": "1500.00", "web": "1000.00"}
    schedule: dict[str, Any] = {
        "starts_at": now.isoformat(),
        "ends_at": (now + ends_in).isoformat(),
        "send_in_local_windows": not send_now,
    }
    if windows is not None:
        schedule["send_windows"] = {"email": windows}
    return campaign_planned(
        cid,
        budget=money(str(sum(float(amounts[c]) for c in channels)) + "0"),
        allocation={channel: money(amounts[channel]) for channel in channels},
        schedule=schedule,
    )


def segments(cid: str, sizes: dict[str, int]) -> dict[str, Any]:
    return {
        "campaign_id": cid,
        "total_customers": sum(sizes.values()),
        "segments": [
            {
                "segment_id": segment_id,
                "name": segment_id.replace("_", " ").title(),
                "size": size,
                "predicted_conversion_rate": 0.05,
                "email_reachable": size,
            }
            for segment_id, size in sizes.items()
        ],
    }


def email_content(cid: str, segment_ids: Sequence[str], letters: str = "ab") -> dict[str, Any]:
    return {
        "campaign_id": cid,
        "content": [
            {
                "segment_id": segment_id,
                "channel": "email",
                "variant_id": f"{segment_id}-email-{letter}",
                "subject": f"Offer {letter.upper()} for you",
                "preheader": "Quiet, at last",
                "body": f"Hi {{first_name}},\n\nVariant {letter} says hello.\n\n{FOOTER}",
                "call_to_action": "Shop now",
                "cta_url": f"{LANDING}?utm_source=email&utm_content={segment_id}-email-{letter}",
            }
            for segment_id in segment_ids
            for letter in letters
        ],
    }


def paid_content(
    cid: str, segment_ids: Sequence[str], channels: Sequence[str]
) -> list[dict[str, Any]]:
    """Two variants per segment on each paid channel."""
    return [
        {
            "segment_id": segment_id,
            "channel": channel,
            "variant_id": f"{segment_id}-{channel}-{letter}",
            "headline": f"Quiet {letter.upper()}",
            "body": "Hear only what you choose.",
            "call_to_action": "Shop now",
            "cta_url": f"{LANDING}?utm_source={channel}&utm_content="
            f"{segment_id}-{channel}-{letter}",
        }
        for segment_id in segment_ids
        for channel in channels
        for letter in "ab"
    ]


def audience(cid: str, members: Sequence[tuple[str, str]], chunk: int = 50) -> list[dict[str, Any]]:
    starts = range(0, len(members), chunk) or range(1)
    return [
        {
            "campaign_id": cid,
            "chunk": index,
            "chunks": len(starts),
            "members": [
                {"customer_id": customer_id, "segment_id": segment_id}
                for customer_id, segment_id in members[start : start + chunk]
            ],
        }
        for index, start in enumerate(starts)
    ]


async def send_customers(publisher: Publisher, records: Sequence[dict[str, Any]]) -> None:
    for record in records:
        key = record["customer_id"]
        await publisher.send(
            CUSTOMER_UPSERTED, cloud_event(CUSTOMER_UPSERTED, record, subject=key), key=key
        )


async def until_known(db: AsyncDatabase[Any], customer_ids: Sequence[str]) -> None:
    """Until the launcher's projection holds every one of ``customer_ids``."""

    async def known() -> bool:
        found = await db["customers"].count_documents({"_id": {"$in": list(customer_ids)}})
        return found == len(customer_ids)

    await until_async(known, what=f"{len(customer_ids)} customers in the launcher's projection")


async def send_launch(
    publisher: Publisher,
    cid: str,
    planned: dict[str, Any],
    members: Sequence[tuple[str, str]],
    content: dict[str, Any] | None = None,
    key: str = "",
    **envelope: Any,
) -> None:
    """Every launch input of ``cid``, keyed by campaign (or by ``key``, to share a partition),
    each envelope with the ``envelope`` fields (a ``traceparent``, say)."""
    segment_ids = sorted({segment for _, segment in members})
    sizes = {s: sum(1 for _, m in members if m == s) for s in segment_ids}
    inputs = [
        (CAMPAIGN_PLANNED, planned),
        (CAMPAIGN_SEGMENTED, segments(cid, sizes)),
        (CAMPAIGN_CONTENT_GENERATED, content or email_content(cid, segment_ids)),
        *((CAMPAIGN_AUDIENCE, chunk) for chunk in audience(cid, members)),
    ]
    for topic, data in inputs:
        event = cloud_event(topic, data, subject=cid, **envelope)
        await publisher.send(topic, event, key=key or cid)


def opted_in(customer_id: str, **overrides: Any) -> dict[str, Any]:
    return customer(customer_id, email=f"{customer_id}@example.com", **overrides)
