"""Releasing a launched campaign's later email waves (``domain/waves``) while it runs.

- ``on_evaluated``: a ``campaign.evaluated`` of a campaign this launcher launched releases
  its next unreleased wave with the email verdicts' weights. An evaluation cycle releases at
  most one wave, once, however often it is delivered.
- ``run``, a background job, each round: gives the deliveries of released waves their
  variants, in batches (a release a crash interrupted is finished here); releases the next
  wave itself when no evaluation came within ``timeout`` of the previous release, with the
  last weights received (equal if none), so the campaign never stalls; and once the campaign
  has ended, sends nothing to the waves never released (``campaign_ended``).

Every release and every end with waves left is recorded in the launcher's decision log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Literal

from services.launcher.domain.brief import LaunchBrief
from services.launcher.domain.deliveries import SkipReason
from services.launcher.domain.waves import WaveReleased, WavesEnded, release, wave_weights
from services.launcher.storage.briefs import LaunchBriefs
from services.launcher.storage.transaction import LauncherTransaction
from services.launcher.storage.waves import QueuedDeliveries, SegmentWeights, Waves, WaveState
from shared.events.common import Channel
from shared.events.envelope import CloudEvent, utc_now
from shared.events.optimisation import CampaignEvaluated
from shared.storage.unit_of_work import UnitOfWork, retry_on_write_conflict

log = logging.getLogger(__name__)

BATCH = 500
POLL_SECONDS = 1.0


class WaveReleaser:
    def __init__(
        self,
        uow: UnitOfWork[LauncherTransaction],
        *,
        timeout: timedelta,
        on_scheduled: Callable[[], None] = lambda: None,
        batch: int = BATCH,
    ) -> None:
        self._uow = uow
        self._db = uow.db
        self._timeout = timeout
        self._on_scheduled = on_scheduled
        self._batch = batch
        self._woken = asyncio.Event()

    async def on_evaluated(self, event: CloudEvent[CampaignEvaluated]) -> None:
        evaluated = event.data
        campaign_id = evaluated.campaign_id
        proposed = {
            verdict.segment_id: verdict.weights
            for verdict in evaluated.experiments
            if verdict.channel is Channel.EMAIL
        }
        brief = await LaunchBriefs(self._db).get(campaign_id)
        async with self._uow.consuming(event) as tx:
            state = await tx.waves.get(campaign_id)
            if brief is None or state is None:
                log.info("campaign %s: evaluated, but not launched here", campaign_id)
                return
            if evaluated.cycle in state.cycles:
                log.info("campaign %s: cycle %d already seen", campaign_id, evaluated.cycle)
                return
            await tx.waves.evaluated(campaign_id, evaluated.cycle, proposed)
            await self._release(tx, brief, state, proposed, "evaluation", evaluated.cycle)
        self._woken.set()

    async def run(self) -> None:
        while True:
            self._woken.clear()
            try:
                await self.release_due()
            except Exception:
                log.exception("wave round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), POLL_SECONDS)

    async def release_due(self) -> None:
        for state in await Waves(self._db).unfinished():
            now = utc_now()
            ended = now >= state.ends_at
            overdue = bool(state.unreleased) and now - state.released_at >= self._timeout
            if not (state.pending or ended or overdue):
                continue  # the common round: nothing to do, and no brief read for it
            brief = await LaunchBriefs(self._db).get(state.campaign_id)
            if brief is None:
                continue
            await self._assign(state, brief)
            if ended:
                await self._end(state)
            elif overdue:
                await self._release_on_timeout(brief)

    async def _release(
        self,
        tx: LauncherTransaction,
        brief: LaunchBrief,
        state: WaveState,
        proposed: Mapping[str, Mapping[str, float]] | None,
        trigger: Literal["evaluation", "timeout"],
        cycle: int | None,
    ) -> None:
        if not state.unreleased:
            return
        wave = state.next
        weights, refused = resolve_weights(brief, proposed)
        now = utc_now()
        if not await tx.waves.release(brief.campaign_id, wave, weights, now):
            return
        released = WaveReleased(
            campaign_id=brief.campaign_id,
            wave=wave,
            waves=state.waves,
            trigger=trigger,
            cycle=cycle,
            deliveries=await tx.queued.count(brief.campaign_id, [wave]),
            weights=weights,
            refused=refused,
            at=now,
        )
        await tx.decisions.record_rule(brief.campaign_id, "wave", released, released.summary())
        for segment_id, why in refused.items():
            log.warning(
                "campaign %s: weights for %s refused (%s); equal weights instead",
                brief.campaign_id,
                segment_id,
                why,
            )
        log.info("campaign %s: %s", brief.campaign_id, released.summary())

    @retry_on_write_conflict
    async def _release_on_timeout(self, brief: LaunchBrief) -> None:
        async with self._uow as tx:
            state = await tx.waves.get(brief.campaign_id)
            if state is None or utc_now() - state.released_at < self._timeout:
                return  # an evaluation released one meanwhile
            log.info(
                "campaign %s: no evaluation within %s of the last release; releasing with the "
                "last weights received",
                brief.campaign_id,
                self._timeout,
            )
            await self._release(tx, brief, state, state.last_weights, "timeout", state.last_cycle)
        self._woken.set()

    async def _assign(self, state: WaveState, brief: LaunchBrief) -> None:
        """Give the queued deliveries of each released wave their variant and send time."""
        assert brief.planned is not None  # noqa: S101 - waves exist only for launched briefs
        queued = QueuedDeliveries(self._db)
        for wave, weights in sorted(state.pending.items()):
            while batch := await queued.batch(state.campaign_id, wave, self._batch):
                now = utc_now()
                await queued.released(
                    [
                        release(
                            delivery,
                            weights.get(delivery.segment_id)
                            or segment_weights(brief, delivery.segment_id, None)[0],
                            brief.planned.schedule,
                            now,
                        )
                        for delivery in batch
                    ]
                )
                self._on_scheduled()
            await Waves(self._db).applied(state.campaign_id, wave)

    @retry_on_write_conflict
    async def _end(self, state: WaveState) -> None:
        now = utc_now()
        async with self._uow as tx:
            skipped = await tx.queued.skip_all(state.campaign_id, SkipReason.CAMPAIGN_ENDED, now)
            if state.unreleased:
                ended = WavesEnded(
                    campaign_id=state.campaign_id,
                    unreleased=state.unreleased,
                    deliveries=skipped,
                    at=now,
                )
                await tx.decisions.record_rule(state.campaign_id, "wave", ended, ended.summary())
                log.info("campaign %s: %s", state.campaign_id, ended.summary())
            await tx.waves.close(state.campaign_id)


def segment_weights(
    brief: LaunchBrief, segment_id: str, proposed: Mapping[str, float] | None
) -> tuple[dict[str, float], str | None]:
    variants = [piece.variant_id for piece in brief.variants(segment_id, Channel.EMAIL)]
    return wave_weights(variants, proposed) if variants else ({}, None)


def resolve_weights(
    brief: LaunchBrief, proposed: Mapping[str, Mapping[str, float]] | None
) -> tuple[SegmentWeights, dict[str, str]]:
    """Per email segment of the brief, the weights a release uses, and the refused ones."""
    segments = sorted({p.segment_id for p in brief.content or () if p.channel is Channel.EMAIL})
    weights: SegmentWeights = {}
    refused: dict[str, str] = {}
    for segment_id in segments:
        weights[segment_id], why = segment_weights(
            brief, segment_id, (proposed or {}).get(segment_id)
        )
        if why is not None:
            refused[segment_id] = why
    return weights, refused
