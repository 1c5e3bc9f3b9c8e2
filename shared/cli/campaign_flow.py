"""The demo's campaign, from request to report, followed through its own events."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.status import Status

from shared.cli.analytics_api import ReportNotFoundError, fetch_report
from shared.cli.campaign_request import publish_request
from shared.cli.deadlines import DemoFailure, service_log, within
from shared.cli.events_client import CampaignEvents, Event
from shared.cli.inbox import campaign_mail, click_through
from shared.cli.letter_view import letter_panel
from shared.cli.report_view import render_report
from shared.cli.settings import CliSettings
from shared.cli.shopper import ShopperClick, plan_purchases, shop
from shared.cli.timeline import answer_line, event_line, summary
from shared.events import topics
from shared.events.campaigns import CampaignRequested
from shared.events.common import Channel
from shared.events.customers import CustomerUpserted
from shared.money import Money

# The campaign's path to launch: each stage's event and the service that emits it.
STAGES = (
    (topics.CAMPAIGN_PLANNED, "planner"),
    (topics.CAMPAIGN_SEGMENTED, "segmenter"),
    (topics.CAMPAIGN_CONTENT_GENERATED, "content"),
    (topics.CAMPAIGN_LAUNCHED, "launcher"),
)
# Customer events are keyed by customer, not campaign: thousands to read past for nothing.
CAMPAIGN_TOPICS = tuple(t for t in topics.ALL_TOPICS if not t.startswith(topics.CUSTOMER_UPSERTED))
# Payments are shown from the API's answers, and engagement is summed up by the flow: one
# line per email, click or ad report would bury the story.
QUIET_TOPICS = (
    topics.ENGAGEMENT_SENT,
    topics.ENGAGEMENT_BOUNCED,
    topics.ENGAGEMENT_CLICKED,
    topics.ENGAGEMENT_HELD_OUT,
    topics.ADS_REPORTED,
    topics.PAYMENT_INITIATED,
    topics.PAYMENT_COMPLETED,
    topics.PAYMENT_FAILED,
    topics.PAYMENT_REVIEW_REQUIRED,
    topics.PAYMENT_REFUNDED,
    topics.CAMPAIGN_PERFORMANCE,
)
# The launch ends once every email of its first wave has an answer from the mail server.
LAUNCH_TIMEOUT = 300.0
AD_CLICKS_TIMEOUT = 90.0
EMAIL_SHOPPERS = 9
AD_SHOPPERS = 4
SHOWN_LETTERS = 2
REVENUE_TIMEOUT = 45.0
REPORT_TIMEOUT = 120.0  # analytics reads every send of the launch first
# The demo's optimiser runs every DEMO_OPTIMISER_INTERVAL seconds (run_demo sets it): a cycle
# that has seen the shoppers' payments, and the planner's answer to it, come within two.
DEMO_OPTIMISER_INTERVAL = 20.0
OPTIMISATION_TIMEOUT = 3 * DEMO_OPTIMISER_INTERVAL + 30.0


def demo_request(campaign_id: str) -> CampaignRequested:
    return CampaignRequested.model_validate(
        {
            "campaign_id": campaign_id,
            "name": "Headphones spring launch",
            "budget": Money.of("50000.00", "USD"),
            "channels": [Channel.EMAIL, Channel.SOCIAL, Channel.WEB],
            "product": {
                "sku": "SKU-HEADPHONES-01",
                "name": "Noise-cancelling headphones",
                "price": Money.of("149.99", "USD"),
            },
            # "Send now": the demo cannot wait for Tuesday morning in each shopper's zone.
            "send_in_local_windows": False,
        }
    )


class CampaignFlow:
    def __init__(self, settings: CliSettings, console: Console, campaign_id: str) -> None:
        self.settings = settings
        self.console = console
        self.campaign_id = campaign_id
        self.events = CampaignEvents(settings, CAMPAIGN_TOPICS, campaign_id)
        self.events.on_event = self.show

    def show(self, topic: str, event: Event) -> None:
        if topic not in QUIET_TOPICS:
            self.console.print(event_line(topic, event))

    async def run(self, customers: Sequence[CustomerUpserted]) -> None:
        await self.events.start()
        try:
            request = await self.request()
            await self.launch()
            clicks = await self.journeys(customers)
            records = await self.shop(customers, clicks, request.product.price)
            await self.revenue(records)
            await self.optimisation()
            await self.report(len(records))
        finally:
            await self.events.stop()

    async def request(self) -> CampaignRequested:
        self.console.rule("[bold]3. Campaign")
        request = demo_request(self.campaign_id)
        await publish_request(self.settings, request)
        return request

    def failure(self) -> str | None:
        """Why the campaign cannot launch, once a rejection or a dead letter says so."""
        for topic, found in self.events.by_topic.items():
            if found and topic == topics.CAMPAIGN_REJECTED:
                return f"{topic}: {summary(topic, found[0])}"
            if found and topic.endswith(".dlq"):
                log = service_log(str(found[0].get("consumer_group")).split(".")[0])
                return f"{topic}: {summary(topic, found[0])}; see {log}"
        return None

    def launched(self) -> bool:
        return all(self.events.by_topic.get(topic) for topic, _ in STAGES)

    async def launch(self) -> None:
        with self.console.status(
            "Following the campaign: planner, segmenter, content, then the launcher sending"
        ):
            try:
                async with asyncio.timeout(LAUNCH_TIMEOUT):
                    await self.events.wait_until(lambda: self.launched() or bool(self.failure()))
            except TimeoutError:
                topic, service = next((t, s) for t, s in STAGES if not self.events.by_topic.get(t))
                raise DemoFailure(
                    f"{topic} for campaign {self.campaign_id} did not arrive within "
                    f"{LAUNCH_TIMEOUT:.0f}s; see {service_log(service)}"
                ) from None
        if reason := self.failure():
            raise DemoFailure(f"campaign {self.campaign_id} did not launch: {reason}")

    async def journeys(self, customers: Sequence[CustomerUpserted]) -> list[ShopperClick]:
        """Shoppers open their email and follow its tracked link; others click an ad."""
        self.console.rule("[bold]4. Inboxes and ads")
        letters = await campaign_mail(self.settings.mail_url, self.campaign_id)
        self.console.print(
            f"{len(letters):,} emails in the local SMTP sink ({self.settings.mail_url})"
        )
        for letter in letters[:SHOWN_LETTERS]:
            self.console.print(letter_panel(letter))
        by_address = {c.email: c.customer_id for c in customers}
        clicks = []
        for letter in random.Random(9).sample(  # noqa: S311 - a reproducible demo, not a secret
            letters, k=min(EMAIL_SHOPPERS, len(letters))
        ):
            if (link := letter.tracked_link) is None or letter.to not in by_address:
                continue
            click = await click_through(link)
            clicks.append(ShopperClick(click.click_id, by_address[letter.to], "email"))
            self.console.print(f"{letter.to} clicked through: {click.landing_url}")
        ads = await self.ad_clicks()
        for ad in ads:
            self.console.print(
                f"an ad on {ad['channel']} ({ad['variant_id']}) clicked: cid={ad['click_id']}"
            )
        return clicks + [ShopperClick(a["click_id"], None, "ad") for a in ads]

    async def ad_clicks(self) -> list[dict[str, Any]]:
        """The first ad clicks the launcher read from the exchange's reports."""

        def found() -> list[dict[str, Any]]:
            clicked = self.events.by_topic.get(topics.ENGAGEMENT_CLICKED, [])
            return [e["data"] for e in clicked if e["data"].get("source") == "ad"]

        waiting = self.console.status("Waiting for ad clicks from the sandbox exchange's reports")
        with waiting, contextlib.suppress(TimeoutError):
            async with asyncio.timeout(AD_CLICKS_TIMEOUT):
                await self.events.wait_until(lambda: len(found()) >= AD_SHOPPERS)
        if not found():
            self.console.print("[yellow]no ad clicks reported yet; ad shoppers skipped[/]")
        return found()[:AD_SHOPPERS]

    async def shop(
        self, customers: Sequence[CustomerUpserted], clicks: list[ShopperClick], price: Money
    ) -> list[dict[str, Any]]:
        self.console.rule("[bold]5. Shoppers")
        purchases = plan_purchases(customers, clicks, price)

        def paid(record: dict[str, Any]) -> None:
            status = record.get("status")
            topic = topics.PAYMENT_REVIEW_REQUIRED if status == "review" else f"payment.{status}"
            self.console.print(answer_line(topic, record))

        with self.console.status(f"{len(purchases)} shoppers paying through the payment API"):
            return await shop(
                self.settings.payment_url,
                self.settings.payment_api_key.get_secret_value(),
                self.campaign_id,
                purchases,
                paid,
            )

    async def revenue(self, records: list[dict[str, Any]]) -> None:
        completed = {str(r["id"]) for r in records if r.get("status") == "completed"}

        def recorded() -> set[str]:
            found = self.events.by_topic.get(topics.REVENUE_RECORDED, [])
            return {str(e.get("data", {}).get("payment_id")) for e in found}

        with self.console.status(f"Waiting for revenue.recorded for {len(completed)} payments"):
            try:
                async with asyncio.timeout(REVENUE_TIMEOUT):
                    await self.events.wait_until(lambda: completed <= recorded())
            except TimeoutError:
                missing = ", ".join(sorted(completed - recorded()))
                raise DemoFailure(
                    f"revenue.recorded for payment(s) {missing} did not arrive within "
                    f"{REVENUE_TIMEOUT:.0f}s; see {service_log('analytics')}"
                ) from None

    async def optimisation(self) -> None:
        """Wait for an optimisation cycle that has seen the payments, and the planner's
        answer to it: a reallocation, or the allocation kept."""
        self.console.rule("[bold]6. Optimisation")
        seen = len(self.events.by_topic.get(topics.CAMPAIGN_EVALUATED, []))

        def cycle() -> Event | None:
            evaluated = self.events.by_topic.get(topics.CAMPAIGN_EVALUATED, [])
            return evaluated[-1] if len(evaluated) > seen else None

        def answered() -> bool:
            latest = cycle()
            return latest is not None and any(
                e["data"].get("cycle") == latest["data"].get("cycle")
                for e in self.events.by_topic.get(topics.CAMPAIGN_REALLOCATED, [])
            )

        with self.console.status("Waiting for the optimiser's next cycle and the planner's answer"):
            await within(
                OPTIMISATION_TIMEOUT,
                "an optimisation cycle after the payments",
                "analytics",
                self.events.wait_until(lambda: cycle() is not None),
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DEMO_OPTIMISER_INTERVAL):
                    await self.events.wait_until(answered)
        latest = cycle()
        assert latest is not None  # noqa: S101 - the wait above returns once a cycle is seen
        number = latest["data"].get("cycle")
        answer = [
            e["data"]
            for e in self.events.by_topic.get(topics.CAMPAIGN_REALLOCATED, [])
            if e["data"].get("cycle") == number
        ]
        if not answer:
            self.console.print(f"cycle {number}: the planner kept the allocation")
            return
        self.console.print(f"[bold]Planner's rationale[/] ({answer[-1].get('engine')}):")
        self.console.print(str(answer[-1].get("rationale")), highlight=False)

    async def report(self, payments: int) -> None:
        self.console.rule("[bold]7. Report")
        [launched] = self.events.by_topic[topics.CAMPAIGN_LAUNCHED][:1]
        sent = int(launched["data"].get("messages_accepted") or 0)
        with self.console.status("Fetching the report from the analytics API") as status:
            report = await within(
                REPORT_TIMEOUT,
                f"a report counting all {payments} payments and {sent:,} emails",
                "analytics",
                self.settled_report(payments, sent, status),
            )
        render_report(report, self.console)

    async def settled_report(self, payments: int, sent: int, status: Status) -> dict[str, Any]:
        """The report once analytics has every payment and every email the launch sent: it
        reads them from their events, one by one, behind the launcher."""
        while True:
            try:
                report = await fetch_report(
                    self.settings.analytics_url, self.settings.reporting_headers, self.campaign_id
                )
                emailed = sum(s.get("emailed") or 0 for s in report.get("funnel") or [])
                status.update(
                    f"Analytics has read {emailed:,} of {sent:,} emails sent and "
                    f"{len(report.get('payments') or []):,} of {payments} payments"
                )
                if "payments" not in report or (
                    len(report["payments"]) >= payments and emailed >= sent
                ):
                    return report
            except ReportNotFoundError:
                pass
            await asyncio.sleep(0.5)
