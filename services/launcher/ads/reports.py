"""Ad delivery reports turned into events, every ``LAUNCHER_ADS_REPORT_SECONDS``.

Each round reads every live ad set's report: its running totals and the clicks after the
ad set's stored cursor. One transaction per ad set then emits ``engagement.clicked`` for
each of those clicks and ``ads.reported`` (with the ad set's budget and current bid) when
the totals moved, and moves the cursor on
(conditionally on the revision it read, see ``storage/ad_sets.py``). A click is thus
emitted once: a crash before the commit leaves the cursor where it was and the outbox
empty, so the next round reads the same clicks again; a report raced by another replica
commits nothing. An ad set whose campaign has ended is paused first, then read a last
time, then no longer read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from services.launcher.ads.platform import AdPlatform, AdPlatformError, DeliveryReport
from services.launcher.storage.ad_sets import AdSets, BoughtAdSet, Delivered
from services.launcher.storage.transaction import LauncherTransaction
from shared.events.engagement import AdsReported, LinkClicked
from shared.events.topics import ADS_REPORTED, ENGAGEMENT_CLICKED
from shared.money import Money
from shared.storage.unit_of_work import UnitOfWork, WriteConflictError

log = logging.getLogger(__name__)


class _ReportedElsewhereError(Exception):
    """Another reader moved the ad set on first: this report commits nothing."""


class AdReports:
    def __init__(
        self,
        platform: AdPlatform,
        uow: UnitOfWork[LauncherTransaction],
        *,
        every_seconds: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._platform = platform
        self._uow = uow
        self._every = every_seconds
        self._now = now

    async def run(self) -> None:
        """Report round after round until cancelled."""
        while True:
            try:
                await self.report_once()
            except Exception as error:  # the database away, say: the job waits it out
                log.warning("ad reports: round failed, trying again next round: %r", error)
            await asyncio.sleep(self._every)

    async def report_once(self) -> int:
        """One round over every live ad set; the number of clicks emitted."""
        emitted = 0
        for bought in await AdSets(self._uow.db).live():
            try:
                emitted += await self._report(bought, bought.ad_set_id or "")
            except (AdPlatformError, WriteConflictError) as error:
                # The next round reads the same clicks again from the unmoved cursor.
                log.warning(
                    "campaign %s: ad set %s not reported this round: %s",
                    bought.campaign_id,
                    bought.ad_set_id,
                    error,
                )
        return emitted

    async def _report(self, bought: BoughtAdSet, ad_set_id: str) -> int:
        ended = bought.ends_at is not None and bought.ends_at <= self._now()
        if ended:
            # Paused before the last read, so nothing is delivered after what it reports.
            await self._platform.pause(ad_set_id)
        report = await self._platform.report(ad_set_id, clicks_after=bought.click_cursor)
        try:
            await self._record(bought, report, ended=ended)
        except _ReportedElsewhereError:
            return 0
        return len(report.new_clicks)

    async def _record(self, bought: BoughtAdSet, report: DeliveryReport, *, ended: bool) -> None:
        delivered = Delivered(
            impressions=report.impressions, clicks=report.clicks, spend=report.spend
        )
        before = bought.delivered or Delivered(
            impressions=0, clicks=0, spend=Money.zero(report.spend.currency)
        )
        async with self._uow as tx:
            ad_sets = AdSets(tx.db, tx.session)
            if not await ad_sets.reported(
                bought, cursor=report.cursor, delivered=delivered, ended=ended
            ):
                raise _ReportedElsewhereError
            for click in report.new_clicks:
                clicked = LinkClicked(
                    campaign_id=bought.campaign_id,
                    segment_id=bought.segment_id,
                    channel=bought.channel,
                    variant_id=bought.variant_id,
                    at=click.at,
                    click_id=click.click_id,
                    customer_id=None,
                    source="ad",
                    ad_set_id=bought.ad_set_id,
                )
                await tx.emit(ENGAGEMENT_CLICKED, clicked, key=bought.campaign_id)
            if delivered != before:
                await tx.emit(
                    ADS_REPORTED, _totals(bought, delivered, self._now()), key=bought.campaign_id
                )


def _totals(bought: BoughtAdSet, delivered: Delivered, as_of: datetime) -> AdsReported:
    return AdsReported(
        campaign_id=bought.campaign_id,
        ad_set_id=bought.ad_set_id or "",
        channel=bought.channel,
        segment_id=bought.segment_id,
        variant_id=bought.variant_id,
        impressions=delivered.impressions,
        clicks=delivered.clicks,
        spend=delivered.spend,
        budget=bought.budget,
        bid=bought.bid,
        as_of=as_of,
    )
