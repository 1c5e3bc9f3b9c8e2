"""The email dispatcher: sends each due email delivery once, and records what came of it.

A background job of the launcher (``run``; ``wake`` it when deliveries become due). Each
round:

1. deliveries left ``sending`` past their lease become ``unknown``: a process stopped
   mid-transaction, so they may have arrived, and they are never sent again;
2. up to ``chunk`` due deliveries (scheduled, or deferred and due again) are read and
   sorted against the suppression list, consent and content as they stand now (``letters``);
3. each letter is composed, DKIM-signed when a key is set, claimed (``sending``, with a
   lease, written before its SMTP transaction opens) and sent: ``concurrency`` at a time,
   at most ``LAUNCHER_SEND_RATE`` a second;
4. each outcome commits with its event (and a hard bounce's suppression) as soon as the
   transaction ends (``outcomes`` says which outcome does what).

Claims and outcomes are written as group commits (``group_commit``): one write in flight
at a time, carrying every claim or outcome that arrived meanwhile, so a crash strands only
the transactions that were open, and a busy round costs a few writes, not one a message.
A delivery is claimed only while it waits, and its outcome is written only under its own
claim, so neither a restart nor a second replica sends anyone twice. Stopping (the task
cancelled, as on SIGTERM) lets the transactions in flight finish and records them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from pymongo.errors import ConnectionFailure, PyMongoError

from services.launcher.email.channel import EmailChannel
from services.launcher.email.group_commit import GroupCommit
from services.launcher.email.letters import Letter, LetterDesk
from services.launcher.email.outcomes import RetryPolicy, Settled, claimed, settle
from services.launcher.email.smtp import Outcome
from services.launcher.metrics import count_sent
from services.launcher.storage.customers import CustomerProjection
from services.launcher.storage.deliveries import Deliveries
from services.launcher.storage.transaction import LauncherTransaction
from shared.events.common import Channel
from shared.events.envelope import utc_now
from shared.retry import Backoff
from shared.storage.unit_of_work import UnitOfWork, retry_on_write_conflict

log = logging.getLogger(__name__)

CHUNK = 500
# Waits after a round that could not reach the relay, or that failed on the database.
TROUBLE_BACKOFF = Backoff(first=1.0, cap=60.0)
# A round's outcomes wait out a database outage of about a minute: messages already went.
OUTAGE_BACKOFF = Backoff(first=0.5, cap=10.0)
OUTAGE_ATTEMPTS = 12


class EmailDispatcher:
    def __init__(
        self,
        uow: UnitOfWork[LauncherTransaction],
        customers: CustomerProjection,
        channel: EmailChannel,
        *,
        concurrency: int,
        chunk: int = CHUNK,
        lease: timedelta | None = None,
        retry: RetryPolicy | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        self._uow = uow
        self._deliveries = Deliveries(uow.db)
        self._desk = LetterDesk(uow.db, customers)
        self._channel = channel
        self._concurrency = concurrency
        self._chunk = chunk
        # Past the longest transaction, so that only a process that died leaves one behind.
        self._lease = lease or timedelta(seconds=2 * channel.relay.transaction_limit)
        self._retry = retry or RetryPolicy()
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """New deliveries are due: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        troubles = 0
        try:
            while True:
                round_ = asyncio.ensure_future(self.dispatch_due())
                try:
                    outcomes = await asyncio.shield(round_)
                except asyncio.CancelledError:
                    self._stopping = True
                    with contextlib.suppress(Exception):
                        await round_
                    raise
                except Exception as error:
                    outcomes = None
                    log.error("email: a round failed: %r", error)
                if outcomes is None or _relay_unreachable(outcomes):
                    troubles += 1
                    await asyncio.sleep(TROUBLE_BACKOFF.delay(troubles))
                    continue
                troubles = 0
                if outcomes.total() < self._chunk:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                    self._wake.clear()
        finally:
            await self._channel.relay.close()

    async def dispatch_due(self) -> Counter[str]:
        """One round (see the module docstring); how many deliveries ended how."""
        async with self._uow.exclusive():
            if expired := await self._deliveries.expire_sending(utc_now()):
                log.warning("email: %d deliveries interrupted mid-send are now unknown", expired)
        due = await self._deliveries.due(Channel.EMAIL, utc_now(), self._chunk)
        if not due:
            return Counter()
        letters, skips = await self._desk.sort(due, utc_now())
        async with self._uow.exclusive():
            await self._deliveries.skip(skips)
        settled = await self._send_all(letters, token=uuid.uuid4().hex)
        outcomes = Counter(done.outcome.value for done in settled)
        count_sent(Channel.EMAIL, [*outcomes.elements(), *(["skipped"] * len(skips))])
        outcomes.update(f"skipped ({skip.skip_reason})" for skip in skips)
        log.info("email: %s", ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())))
        return outcomes

    async def _send_all(self, letters: list[Letter], token: str) -> list[Settled]:
        claims = GroupCommit[tuple[str, str], set[str]](lambda asked: self._claim(asked, token))
        outcomes = GroupCommit[Settled, None](lambda done: self._record(done, token))
        waiting = iter(letters)
        settled: list[Settled] = []
        recorded: list[asyncio.Future[None]] = []

        async def sender() -> None:
            for letter in waiting:
                if self._stopping:
                    return
                if (done := await self._send(letter, claims)) is not None:
                    settled.append(done)
                    recorded.append(outcomes.submit(done))

        await asyncio.gather(*(sender() for _ in range(min(self._concurrency, len(letters)))))
        failures = [e for e in await asyncio.gather(*recorded, return_exceptions=True) if e]
        if failures:
            log.error(
                "email: %d outcomes could not be recorded (%r); those deliveries will show "
                "unknown once their lease expires",
                len(failures),
                failures[0],
            )
        return settled

    async def _send(
        self, letter: Letter, claims: GroupCommit[tuple[str, str], set[str]]
    ) -> Settled | None:
        channel = self._channel
        await channel.pace.wait_turn()
        now = utc_now()
        message = channel.composer.compose(letter.delivery, letter.recipient, letter.piece, now)
        message_id = str(message["Message-ID"])
        raw = message.as_bytes()
        if channel.signer is not None:
            raw = channel.signer.sign(raw)
        try:
            if letter.delivery.id not in await claims.submit((letter.delivery.id, message_id)):
                return None  # another replica took it
        except PyMongoError as error:
            log.warning("email: a claim could not be written (%r); not sent this round", error)
            return None
        sending = claimed(letter.delivery, message_id, now)
        result = await channel.relay.send(
            channel.composer.envelope_from, letter.recipient.email, raw
        )
        return settle(sending, result, utc_now(), self._retry)

    async def _claim(self, asked: Sequence[tuple[str, str]], token: str) -> set[str]:
        now = utc_now()
        async with self._uow.exclusive():
            return await self._deliveries.claim(asked, token, now, now + self._lease)

    async def _record(self, settled: Sequence[Settled], token: str) -> None:
        """Outcomes, their events and suppressions in one transaction; the messages already
        went, so a database outage is waited out rather than lost."""
        async for attempt in OUTAGE_BACKOFF.retrying(attempts=OUTAGE_ATTEMPTS, retry_on=_outage):
            with attempt:
                await self._record_once(settled, token)

    @retry_on_write_conflict
    async def _record_once(self, settled: Sequence[Settled], token: str) -> None:
        async with self._uow as tx:
            await tx.deliveries.settle([s.delivery for s in settled], token)
            await tx.suppression.add_many([s.suppression for s in settled if s.suppression])
            await tx.emit_many([s.emission for s in settled if s.emission])


def _relay_unreachable(outcomes: Counter[str]) -> bool:
    return set(outcomes) == {Outcome.NOT_HANDED_OVER.value}


def _outage(error: BaseException) -> bool:
    return isinstance(error, ConnectionFailure)
