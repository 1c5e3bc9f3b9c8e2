"""A launch as the email dispatcher finds it, written straight to the launcher's database:
the campaign's content, its customers in the projection, and scheduled email deliveries.

``email_service`` runs the dispatcher as the launcher's background job, in a service of its
own, so its events go out through the real outbox relay.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.launcher.domain.deliveries import Delivery, DeliveryStatus
from services.launcher.domain.tracking import TrackingKeys
from services.launcher.email.channel import EmailChannel
from services.launcher.email.dispatcher import CHUNK, EmailDispatcher
from services.launcher.email.outcomes import RetryPolicy
from services.launcher.settings import LauncherSettings
from services.launcher.storage.briefs import LaunchBriefs
from services.launcher.storage.customers import CustomerProjection
from services.launcher.storage.deliveries import Deliveries
from services.launcher.storage.transaction import LauncherTransaction
from shared.events.campaigns import CampaignContentGenerated
from shared.events.common import Channel
from shared.events.customers import CustomerUpserted
from shared.retry import Backoff
from shared.runtime import Infrastructure, Service, health_app
from shared.storage.mongo import Document
from tests.support.factories import campaign_content_generated, customer

SEGMENT = "high_value"
VARIANT = "high_value-email-a"
LANDING_URL = "https://shop.example.com/p/SKU-HEADPHONES-01?utm_source=email"
POSTAL_ADDRESS = "Shop Ltd, 1 Main St, Springfield, USA"
BODY = (
    "Hi {first_name},\n\nOur noise-cancelling headphones are here: " + LANDING_URL + "\n\n--\n"
    "You are receiving this because you opted in to our emails. "
    "Unsubscribe: {unsubscribe_url}\n" + POSTAL_ADDRESS
)
# Tests retry a refusal for now within a second, not a minute.
QUICK_RETRY = RetryPolicy(backoff=Backoff(first=0.05, cap=0.2), attempts=3)


def email_service(
    settings: LauncherSettings,
    *,
    lease: timedelta | None = None,
    retry: RetryPolicy = QUICK_RETRY,
    chunk: int = CHUNK,
) -> tuple[Service, EmailDispatcher]:
    infra = Infrastructure.build("launcher", settings)
    keys = TrackingKeys.parse(settings.launcher_tracking_keys.get_secret_value())
    dispatcher = EmailDispatcher(
        infra.uow.bound(LauncherTransaction),
        CustomerProjection(infra.db),
        EmailChannel.from_settings(settings, keys),
        concurrency=settings.launcher_send_concurrency,
        chunk=chunk,
        lease=lease,
        retry=retry,
        poll_seconds=0.1,
    )
    infra.finish()
    service = Service(
        infra=infra,
        http_app=health_app(infra),
        http_port=settings.launcher_api_port,
        on_startup=[Deliveries(infra.db).ensure_indexes],
        background=[dispatcher.run],
    )
    return service, dispatcher


async def seed_campaign(
    db: AsyncDatabase[Document],
    people: Sequence[dict[str, Any]],
    *,
    campaign_id: str | None = None,
    send_at: datetime | None = None,
) -> str:
    """The campaign's email content, ``people`` (``customer`` payloads) in the projection,
    and one email delivery scheduled for each; the campaign id."""
    campaign = campaign_id or f"c-{uuid.uuid4().hex[:12]}"
    await LaunchBriefs(db).record_content(email_content(campaign))
    now = datetime.now(UTC)
    await CustomerProjection(db).keep_newest(
        (CustomerUpserted.model_validate(person), now) for person in people
    )
    await Deliveries(db).record(
        [scheduled(campaign, person["customer_id"], send_at or now) for person in people]
    )
    return campaign


def email_content(campaign_id: str) -> CampaignContentGenerated:
    piece = {
        "segment_id": SEGMENT,
        "channel": "email",
        "variant_id": VARIANT,
        "subject": "Made for you, {first_name}",
        "preheader": "Our best headphones, 20% off this week",
        "body": BODY,
        "call_to_action": "Shop the headphones",
        "cta_url": LANDING_URL,
    }
    generated = campaign_content_generated(campaign_id, content=[piece])
    return CampaignContentGenerated.model_validate(generated)


def people(count: int, **overrides: Any) -> list[dict[str, Any]]:
    """``count`` opted-in customers, each addressed ``<customer id>@example.com``."""
    found = []
    for _ in range(count):
        customer_id = f"customer-{uuid.uuid4().hex[:10]}"
        found.append(customer(customer_id, email=f"{customer_id}@example.com") | overrides)
    return found


def scheduled(campaign_id: str, customer_id: str, send_at: datetime) -> Delivery:
    return Delivery(
        campaign_id=campaign_id,
        customer_id=customer_id,
        channel=Channel.EMAIL,
        segment_id=SEGMENT,
        variant_id=VARIANT,
        status=DeliveryStatus.SCHEDULED,
        send_at=send_at,
        decided_at=send_at,
        updated_at=send_at,
    )


async def statuses(db: AsyncDatabase[Document], campaign_id: str) -> dict[str, Document]:
    """Each of the campaign's email deliveries as stored, by customer."""
    cursor = db["deliveries"].find({"campaign_id": campaign_id, "channel": "email"})
    return {document["customer_id"]: document async for document in cursor}


UNSETTLED = ["scheduled", "sending", "deferred"]


async def until_settled(
    db: AsyncDatabase[Document], campaign_id: str, timeout: float = 60
) -> dict[str, Document]:
    """Wait until none of the campaign's email deliveries waits or is in flight; them all.

    A bound on the wait, never a timing assertion."""
    unsettled = {"campaign_id": campaign_id, "channel": "email", "status": {"$in": UNSETTLED}}
    async with asyncio.timeout(timeout):
        while await db["deliveries"].count_documents(unsettled):
            await asyncio.sleep(0.1)
    return await statuses(db, campaign_id)
