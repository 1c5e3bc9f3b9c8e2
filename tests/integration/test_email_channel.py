"""The email channel end to end: deliveries in the launcher's database, the dispatcher as
the launcher's background job, real SMTP over TCP to the local sink, events through the
outbox to the real broker."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.launcher.domain.tracking import LinkKind, TrackedLink, TrackingKeys
from services.launcher.settings import LauncherSettings
from services.launcher.storage.customers import CustomerProjection
from services.launcher.storage.suppression import SuppressionList, SuppressionReason
from shared.events.common import Channel
from shared.events.customers import CustomerUpserted
from shared.events.envelope import utc_now
from shared.events.topics import ENGAGEMENT_BOUNCED, ENGAGEMENT_SENT
from shared.runtime import Service
from shared.storage.mongo import connect, service_database
from tests.support.email_launch import (
    LANDING_URL,
    POSTAL_ADDRESS,
    SEGMENT,
    VARIANT,
    email_service,
    people,
    seed_campaign,
    until_settled,
)
from tests.support.factories import customer
from tests.support.kafka import EventLog, for_campaign
from tests.support.services import running, settings_for
from tests.support.smtp_sink import SinkUnderTest, smtp_sink

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase

    from shared.storage.mongo import Document
    from tests.support.infrastructure import TestInfrastructure

SENDER = "Example Shop <offers@shop.example.com>"
PUBLIC_URL = "https://t.shop.example.com"
LINK = re.compile(r'href="([^"]+)"')


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[SinkUnderTest]:
    async with smtp_sink(tmp_path / "mail") as running_sink:
        yield running_sink


@pytest.fixture
async def db(infra: TestInfrastructure) -> AsyncIterator[AsyncDatabase[Document]]:
    client = connect(infra.mongodb, app_name="test-email")
    yield service_database(client, "launcher", infra.db_prefix)
    await client.close()


def launcher_settings(
    infra: TestInfrastructure, sink: SinkUnderTest, **overrides: Any
) -> LauncherSettings:
    values = {
        "launcher_smtp_url": sink.url,
        "launcher_sender": SENDER,
        "launcher_public_url": PUBLIC_URL,
        "launcher_send_concurrency": 4,
    }
    return settings_for(LauncherSettings, infra, **(values | overrides))


def dispatching(settings: LauncherSettings) -> Any:
    def build(given: LauncherSettings) -> Service:
        service, _ = email_service(given)
        return service

    return running(build, settings)


async def test_each_message_carries_its_headers_personalised_content_and_tracked_links(
    infra: TestInfrastructure, sink: SinkUnderTest, db: AsyncDatabase[Document], events: EventLog
) -> None:
    ana, nameless = people(2)
    nameless["first_name"] = None
    campaign = await seed_campaign(db, [ana, nameless])
    settings = launcher_settings(infra, sink)
    async with dispatching(settings):
        stored = await until_settled(db, campaign)
        sent = await events.wait_for(ENGAGEMENT_SENT, for_campaign(campaign), count=2)

    keys = TrackingKeys.parse(settings.launcher_tracking_keys.get_secret_value())
    greetings = {ana["customer_id"]: "Ana", nameless["customer_id"]: "there"}
    message_ids = set()
    for person in (ana, nameless):
        [kept] = sink.messages(to=person["email"])
        message = sink.parsed(kept)
        who = person["customer_id"]
        assert message["From"] == SENDER
        assert message["To"] == person["email"]
        assert message["Subject"] == f"Made for you, {greetings[who]}"
        assert message["Date"] is not None
        assert message["Message-ID"] == stored[who]["message_id"]
        message_ids.add(message["Message-ID"])
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Feedback-ID"] == f"{campaign}:{SEGMENT}:{VARIANT}:shop.example.com"

        unsubscribe = str(message["List-Unsubscribe"]).removeprefix("<").removesuffix(">")
        assert unsubscribe.startswith(f"{PUBLIC_URL}/u/")
        assert keys.verify(unsubscribe.rsplit("/", 1)[1]) == link(
            LinkKind.UNSUBSCRIBE, campaign, who
        )

        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        for body in (text, html):
            assert f"Hi {greetings[who]}," in body
            assert POSTAL_ADDRESS in body
            assert unsubscribe in body
            assert LANDING_URL not in body
            assert "{" not in body  # every send-time token rendered
        assert "Our best headphones, 20% off this week" in html  # the hidden preview line
        clicks = [url for url in LINK.findall(html) if url != unsubscribe]
        assert clicks
        assert {url.rsplit("/t/", 1)[0] for url in clicks} == {PUBLIC_URL}
        for url in clicks:
            assert keys.verify(url.rsplit("/", 1)[1]) == link(LinkKind.CLICK, campaign, who)
        assert f"Shop the headphones: {clicks[0]}" in text

    assert len(message_ids) == 2
    assert {e["data"]["message_id"] for e in sent} == message_ids
    assert {e["data"]["variant_id"] for e in sent} == {VARIANT}
    assert {d["status"] for d in stored.values()} == {"sent"}


async def test_a_signed_message_verifies_against_the_published_key(
    infra: TestInfrastructure, sink: SinkUnderTest, db: AsyncDatabase[Document], tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"launch._domainkey.shop.example.com." else b""

    [person] = people(1)
    campaign = await seed_campaign(db, [person])
    settings = launcher_settings(
        infra, sink, launcher_dkim_key_file=key_file, launcher_dkim_selector="launch"
    )
    async with dispatching(settings):
        await until_settled(db, campaign)

    [kept] = sink.messages(to=person["email"])
    raw = sink.raw(kept)
    assert dkim.verify(raw, dnsfunc=dns)
    signature = sink.parsed(kept)["DKIM-Signature"]
    tags = dict(tag.strip().split("=", 1) for tag in str(signature).split(";") if "=" in tag)
    assert tags["a"] == "rsa-sha256"
    assert tags["c"] == "relaxed/relaxed"
    assert tags["d"] == "shop.example.com"
    signed = set(re.sub(r"\s", "", tags["h"]).lower().split(":"))
    assert {"from", "to", "subject", "date", "message-id", "list-unsubscribe"} <= signed
    assert {"list-unsubscribe-post", "mime-version", "content-type"} <= signed
    swapped = re.sub(
        rb"List-Unsubscribe: <[^>]+>", b"List-Unsubscribe: <https://evil.example/u>", raw
    )
    assert not dkim.verify(swapped, dnsfunc=dns)


async def test_a_refusal_for_good_bounces_suppresses_and_publishes(
    infra: TestInfrastructure, sink: SinkUnderTest, db: AsyncDatabase[Document], events: EventLog
) -> None:
    [person] = people(1)
    person["email"] = f"bounce-{person['customer_id']}@example.com"
    campaign = await seed_campaign(db, [person])
    async with dispatching(launcher_settings(infra, sink)):
        stored = await until_settled(db, campaign)
        [bounced] = await events.wait_for(ENGAGEMENT_BOUNCED, for_campaign(campaign))

    who = person["customer_id"]
    assert stored[who]["status"] == "bounced"
    assert stored[who]["last_reply"].startswith("550")
    assert bounced["data"]["kind"] == "hard"
    assert bounced["data"]["customer_id"] == who
    assert bounced["data"]["reason"].startswith("550")
    assert await SuppressionList(db).among([who]) == {who}
    suppressed = await db["suppression"].find_one({"_id": who})
    assert suppressed is not None
    assert suppressed["reasons"] == [SuppressionReason.HARD_BOUNCE.value]
    assert sink.messages(to=person["email"]) == []
    assert events.matching(ENGAGEMENT_SENT, for_campaign(campaign)) == []


async def test_a_refusal_for_now_is_tried_again_and_sent_once(
    infra: TestInfrastructure, sink: SinkUnderTest, db: AsyncDatabase[Document], events: EventLog
) -> None:
    [person] = people(1)
    person["email"] = f"defer-{person['customer_id']}@example.com"  # the sink says 451 once
    campaign = await seed_campaign(db, [person])
    async with dispatching(launcher_settings(infra, sink)):
        stored = await until_settled(db, campaign)
        await events.wait_for(ENGAGEMENT_SENT, for_campaign(campaign))

    who = person["customer_id"]
    assert stored[who]["status"] == "sent"
    assert stored[who]["attempts"] == 2
    assert len(sink.messages(to=person["email"])) == 1
    assert events.matching(ENGAGEMENT_BOUNCED, for_campaign(campaign)) == []


async def test_whoever_unsubscribed_or_withdrew_consent_since_targeting_is_sent_nothing(
    infra: TestInfrastructure, sink: SinkUnderTest, db: AsyncDatabase[Document]
) -> None:
    staying, unsubscribed, withdrawn = people(3)
    campaign = await seed_campaign(db, [staying, unsubscribed, withdrawn])
    await SuppressionList(db).add(
        unsubscribed["customer_id"], SuppressionReason.UNSUBSCRIBED, utc_now(), "earlier"
    )
    withdrawal = CustomerUpserted.model_validate(
        customer(withdrawn["customer_id"], email_opt_in=False)
    )
    await CustomerProjection(db).keep_newest([(withdrawal, utc_now())])
    async with dispatching(launcher_settings(infra, sink)):
        stored = await until_settled(db, campaign)

    assert stored[staying["customer_id"]]["status"] == "sent"
    assert stored[unsubscribed["customer_id"]]["status"] == "skipped"
    assert stored[unsubscribed["customer_id"]]["skip_reason"] == "suppressed"
    assert stored[withdrawn["customer_id"]]["skip_reason"] == "no_consent"
    assert [kept.rcpt_tos for kept in sink.sink.mailbox.matching(campaign=campaign)] == [
        [staying["email"]]
    ]


def link(kind: LinkKind, campaign: str, customer_id: str) -> TrackedLink:
    return TrackedLink(kind, campaign, SEGMENT, Channel.EMAIL, VARIANT, customer_id)
