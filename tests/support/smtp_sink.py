"""The local stack's SMTP sink in the test's own event loop, on a free port: real SMTP over
TCP, with the messages it kept and a hold on its replies to DATA at hand."""

from __future__ import annotations

import contextlib
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from shared.devstack.smtp_sink import KeptMessage, Mailbox, SmtpSink
from tests.support.infrastructure import free_port


@dataclass(frozen=True)
class SinkUnderTest:
    sink: SmtpSink
    url: str

    def messages(self, to: str | None = None, campaign: str | None = None) -> list[KeptMessage]:
        return self.sink.mailbox.matching(to=to, campaign=campaign)

    def raw(self, kept: KeptMessage) -> bytes:
        return (self.sink.mailbox.directory / f"{kept.id}.eml").read_bytes()

    def parsed(self, kept: KeptMessage) -> EmailMessage:
        message = email.message_from_bytes(self.raw(kept), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


@contextlib.asynccontextmanager
async def smtp_sink(directory: Path) -> AsyncIterator[SinkUnderTest]:
    mailbox = Mailbox(directory)
    sink = SmtpSink(mailbox)
    port = free_port()
    await sink.start("127.0.0.1", port)
    try:
        yield SinkUnderTest(sink, f"smtp://127.0.0.1:{port}")
    finally:
        await sink.stop()
        mailbox.close()
