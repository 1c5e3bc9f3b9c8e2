"""The launch of a campaign whose brief is complete, step by step, in the background.

1. **Target**: every member of the audience gets one email delivery decision (sent
   nothing with a reason, held out, or scheduled with a variant and a send time), one
   audience chunk per transaction, together with an ``engagement.held_out`` event for each
   held-out customer and a mark that the chunk is done. A crash resumes at the next chunk.
2. **Buy**: the paid channels' ad sets are created (idempotently, outside any transaction).
3. **Report**: once every message due at launch has an outcome (the dispatcher sends them),
   ``campaign.launched`` says what happened, in the transaction that marks it launched and
   opens the campaign's later email waves (``releasing``).

One launch at a time per process, oldest first, so two campaigns launching together count
each other's messages against the frequency cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.launcher.domain.brief import LaunchBrief
from services.launcher.domain.deliveries import DeliveryStatus
from services.launcher.domain.launch_report import launch_report
from services.launcher.domain.targeting import (
    FREQUENCY_WINDOW,
    MemberFacts,
    TargetingRules,
    decide_email,
)
from services.launcher.storage.briefs import LaunchBriefs
from services.launcher.storage.customers import CustomerProjection
from services.launcher.storage.deliveries import Deliveries
from services.launcher.storage.launches import Launches, LaunchState
from services.launcher.storage.suppression import SuppressionList
from services.launcher.storage.transaction import LauncherTransaction
from shared.events.campaigns import AdSetLaunched, AudienceMember
from shared.events.common import Channel
from shared.events.engagement import HeldOut
from shared.events.topics import CAMPAIGN_LAUNCHED, ENGAGEMENT_HELD_OUT
from shared.messaging.trace_context import continuing
from shared.storage.unit_of_work import UnitOfWork, retry_on_write_conflict

log = logging.getLogger(__name__)

type BuyAds = Callable[[LaunchBrief], Awaitable[list[AdSetLaunched]]]
POLL_SECONDS = 1.0


async def no_paid_channels(brief: LaunchBrief) -> list[AdSetLaunched]:
    return []


class LaunchDriver:
    def __init__(
        self,
        uow: UnitOfWork[LauncherTransaction],
        customers: CustomerProjection,
        rules: TargetingRules,
        buy_ads: BuyAds = no_paid_channels,
        on_scheduled: Callable[[], None] = lambda: None,
    ) -> None:
        self._uow = uow
        self._db = uow.db
        self._customers = customers
        self._rules = rules
        self._buy_ads = buy_ads
        self._on_scheduled = on_scheduled
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def run(self) -> None:
        while True:
            self._woken.clear()
            try:
                await self.launch_ready_campaigns()
            except Exception:
                log.exception("launch round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), POLL_SECONDS)

    async def launch_ready_campaigns(self) -> None:
        """Each unfinished launch in turn; one that fails (its ads cannot be bought, say) is
        logged and tried again next round, and does not hold up the launches after it."""
        for campaign_id, state in await Launches(self._db).unfinished():
            try:
                await self.launch(campaign_id, state)
            except Exception:
                log.exception("campaign %s: launch step failed; retrying next round", campaign_id)

    async def launch(self, campaign_id: str, state: LaunchState) -> None:
        """Take a launch as far as it can go now: target, buy, report once sent; in the
        trace of the event that completed the brief, so the campaign's trace goes on."""
        with continuing(await Launches(self._db).trace_context(campaign_id)):
            await self._launch(campaign_id, state)

    async def _launch(self, campaign_id: str, state: LaunchState) -> None:
        brief = await LaunchBriefs(self._db).get(campaign_id)
        if brief is None or not brief.complete:
            return
        if state is LaunchState.READY:
            await self.target(brief)
            state = LaunchState.TARGETED
        if state is LaunchState.TARGETED:
            ad_sets = await self._buy_ads(brief)
            await Launches(self._db).advance(
                campaign_id,
                LaunchState.BOUGHT,
                datetime.now(UTC),
                ad_sets=[a.model_dump(mode="python") for a in ad_sets],
            )
        await self.report_when_sent(brief)

    async def target(self, brief: LaunchBrief) -> None:
        campaign_id = brief.campaign_id
        assert brief.planned is not None  # noqa: S101 - only complete briefs are launched
        if Channel.EMAIL in brief.planned.allocation:
            done = await Launches(self._db).targeted_chunks(campaign_id)
            chunk = 0
            decided = 0
            async for members in LaunchBriefs(self._db).audience(campaign_id):
                if chunk not in done:
                    await self._target_chunk(brief, chunk, members)
                    self._on_scheduled()  # the dispatcher may start on this chunk at once
                decided += len(members)
                chunk += 1
                log.info("campaign %s: %d audience members targeted", campaign_id, decided)
        await Launches(self._db).advance(campaign_id, LaunchState.TARGETED, datetime.now(UTC))

    @retry_on_write_conflict
    async def _target_chunk(
        self, brief: LaunchBrief, chunk: int, members: list[AudienceMember]
    ) -> None:
        now = datetime.now(UTC)
        ids = [member.customer_id for member in members]
        recipients = await self._customers.find(ids)
        suppressed = await SuppressionList(self._db).among(ids)
        contacts = await Deliveries(self._db).contacts_since(ids, now - FREQUENCY_WINDOW)
        decisions = [
            decide_email(
                brief,
                MemberFacts(
                    member,
                    recipients.get(member.customer_id),
                    member.customer_id in suppressed,
                    contacts[member.customer_id],
                ),
                self._rules,
                now,
            )
            for member in members
        ]
        async with self._uow as tx:
            await tx.deliveries.record(decisions)
            for held in (d for d in decisions if d.status is DeliveryStatus.HELD_OUT):
                fact = HeldOut(
                    campaign_id=held.campaign_id,
                    customer_id=held.customer_id,
                    segment_id=held.segment_id,
                    at=now,
                )
                await tx.emit(ENGAGEMENT_HELD_OUT, fact, key=held.campaign_id)
            await tx.launches.chunk_targeted(brief.campaign_id, chunk)

    async def report_when_sent(self, brief: LaunchBrief) -> None:
        campaign_id = brief.campaign_id
        assert brief.planned is not None  # noqa: S101 - only complete briefs are launched
        targeted_at = await Launches(self._db).targeted_at(campaign_id)
        if targeted_at is None:
            return
        # The launch's own wave: every message of wave 0 due when targeting finished (later
        # waves are queued, not outstanding).
        if await Deliveries(self._db).any_outstanding(campaign_id, targeted_at):
            return  # the dispatcher is still sending the launch's own wave
        tally = await Deliveries(self._db).tally(campaign_id, Channel.EMAIL.value)
        ad_sets = await Launches(self._db).ad_sets(campaign_id)
        now = datetime.now(UTC)
        report = launch_report(
            campaign_id,
            list(brief.planned.allocation),
            tally.by_status,
            {reason.value: n for reason, n in tally.skipped.items()},
            ad_sets,
            now,
        )
        cause = await Launches(self._db).cause(campaign_id)
        async with self._uow as tx:
            await tx.launches.advance(
                campaign_id, LaunchState.LAUNCHED, now, report=report.model_dump(mode="python")
            )
            await tx.emit(CAMPAIGN_LAUNCHED, report, key=campaign_id, causation_id=cause)
            if Channel.EMAIL in brief.planned.allocation:
                waves = self._rules.waves.waves
                await tx.waves.open(campaign_id, waves, now, brief.planned.schedule.ends_at)
        log.info(
            "campaign %s launched: %d accepted, %d scheduled, %d held out, %s skipped",
            campaign_id,
            report.messages_accepted,
            report.scheduled,
            report.held_out,
            dict(report.skipped) or "none",
        )
