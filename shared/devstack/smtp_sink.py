"""The local stack's SMTP sink: answers as a mail server would, keeps every message it
accepts, and shows them over HTTP, so the demo's shoppers can open their email and click
(development only).

- SMTP (aiosmtpd), default 127.0.0.1:8025. A recipient whose local part starts with
  ``bounce-`` is refused for good (550) at RCPT; one starting with ``defer-`` is refused for
  now (451) the first time, then accepted: bounces and retries can be seen end to end.
- Each accepted message is one ``.eml`` file in the directory (default
  ``.devstack/mail``) and a line in its ``index.jsonl``; a restarted sink still lists them.
- HTTP, default 127.0.0.1:8026: ``GET /messages?to=&campaign=&limit=`` lists messages with
  their headers and raw text as JSON (``campaign`` matches the first field of
  ``Feedback-ID``), ``GET /messages/{id}`` shows one (``shared/devstack/smtp_sink_http.py``).

``python -m shared.devstack.smtp_sink [--host] [--smtp-port] [--http-port] [--directory]``,
or ``SMTP_SINK_HOST``, ``SMTP_SINK_PORT``, ``SMTP_SINK_HTTP_PORT``, ``SMTP_SINK_DIR``.
Tests run it in their own event loop (``tests/support/smtp_sink.py``), and can hold its
replies to DATA (``hold``) to stop a sender mid-transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

INDEX = "index.jsonl"


@dataclass(frozen=True)
class KeptMessage:
    id: str
    received_at: str
    mail_from: str
    rcpt_tos: list[str]
    headers: dict[str, str]

    @property
    def campaign(self) -> str:
        return self.headers.get("Feedback-ID", "").split(":")[0]


@dataclass
class ReplyRules:
    """Which recipients are refused, and how."""

    bounce_prefix: str = "bounce-"
    defer_prefix: str = "defer-"
    deferrals: int = 1

    def __post_init__(self) -> None:
        self._deferred: Counter[str] = Counter()

    def at_rcpt(self, address: str) -> str | None:
        """The refusal for ``address``, or None to accept it."""
        local_part = address.partition("@")[0].lower()
        if local_part.startswith(self.bounce_prefix):
            return "550 5.1.1 The email account that you tried to reach does not exist"
        if local_part.startswith(self.defer_prefix) and self._deferred[address] < self.deferrals:
            self._deferred[address] += 1
            return "451 4.2.0 Mailbox busy, try again later"
        return None


class Mailbox:
    """The kept messages: one ``.eml`` file each, and an index read back at start."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        index = directory / INDEX
        lines = index.read_text().splitlines() if index.exists() else []
        self.kept = [KeptMessage(**json.loads(line)) for line in lines if line.strip()]
        self._index = index.open("a", encoding="utf-8")

    def keep(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> KeptMessage:
        headers: dict[str, str] = {}
        for name, value in BytesHeaderParser(policy=compat32).parsebytes(content).items():
            headers.setdefault(name, str(value))
        kept = KeptMessage(
            id=f"{len(self.kept) + 1:07d}",
            received_at=datetime.now(UTC).isoformat(),
            mail_from=mail_from,
            rcpt_tos=list(rcpt_tos),
            headers=headers,
        )
        (self.directory / f"{kept.id}.eml").write_bytes(content)
        self._index.write(json.dumps(asdict(kept)) + "\n")
        self._index.flush()
        self.kept.append(kept)
        return kept

    def raw(self, kept: KeptMessage) -> str:
        return (self.directory / f"{kept.id}.eml").read_bytes().decode("utf-8", "replace")

    def matching(self, to: str | None = None, campaign: str | None = None) -> list[KeptMessage]:
        def wanted(kept: KeptMessage) -> bool:
            addressed = to is None or to.lower() in (r.lower() for r in kept.rcpt_tos)
            return addressed and (campaign is None or kept.campaign == campaign)

        return [kept for kept in self.kept if wanted(kept)]

    def close(self) -> None:
        self._index.close()


class SmtpSink:
    """The SMTP side, with the aiosmtpd handler hooks ``handle_RCPT`` and ``handle_DATA``."""

    def __init__(self, mailbox: Mailbox, rules: ReplyRules | None = None) -> None:
        self.mailbox = mailbox
        self.rules = rules or ReplyRules()
        self.held = 0
        self._hold_after: int | None = None
        self._released = asyncio.Event()
        self._server: asyncio.Server | None = None

    def hold(self, after: int = 0) -> None:
        """Keep every message accepted after the first ``after``, but hold its 250 reply
        until ``release``: the sender cannot know it arrived."""
        self._hold_after = len(self.mailbox.kept) + after
        self._released.clear()

    def release(self) -> None:
        self._hold_after = None
        self._released.set()

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="smtp-sink.local", loop=loop), host, port
        )

    async def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
            self._server.close_clients()
            await self._server.wait_closed()

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if refusal := self.rules.at_rcpt(address):
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        # Kept before the reply is held: the message arrived even if the sender never learns.
        kept = self.mailbox.keep(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        if self._hold_after is not None and len(self.mailbox.kept) > self._hold_after:
            self.held += 1
            await self._released.wait()
        return f"250 2.0.0 OK queued as {kept.id}"


async def serve(host: str, smtp_port: int, http_port: int, directory: Path) -> None:
    from shared.devstack.smtp_sink_http import serve_http

    mailbox = Mailbox(directory)
    sink = SmtpSink(mailbox)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await sink.start(host, smtp_port)
    print(f"smtp sink on {host}:{smtp_port}, messages on http://{host}:{http_port}/messages")
    print(f"keeping messages in {directory}", flush=True)
    try:
        await serve_http(mailbox, host, http_port, stop)
    finally:
        await sink.stop()
        mailbox.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("SMTP_SINK_HOST", "127.0.0.1"))
    parser.add_argument(
        "--smtp-port", type=int, default=int(os.environ.get("SMTP_SINK_PORT", 8025))
    )
    parser.add_argument(
        "--http-port", type=int, default=int(os.environ.get("SMTP_SINK_HTTP_PORT", 8026))
    )
    parser.add_argument(
        "--directory", type=Path, default=Path(os.environ.get("SMTP_SINK_DIR", ".devstack/mail"))
    )
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.smtp_port, args.http_port, args.directory))


if __name__ == "__main__":
    main()
