"""The SMTP relay every email goes through (aiosmtplib), over a few reused connections.

``LAUNCHER_SMTP_URL`` is ``smtp://[user:password@]host[:port]`` (STARTTLS whenever the
server offers it; port 25 by default) or ``smtps://...`` (TLS from the first byte; 465).
The password is used to log in and is kept nowhere it could be printed.

What a transaction came to depends on how far it got:

- ``ACCEPTED``: the server answered 250 to the end of DATA (its reply is kept);
- ``HARD_BOUNCE`` / ``SOFT_BOUNCE``: the server refused the recipient at RCPT, or the
  message at the end of DATA, for good (5xx) or for now (4xx);
- ``NOT_HANDED_OVER``: it failed before DATA began (connection or login refused, the
  sender refused, the line dropped): the server has nothing, so trying again is safe;
- ``UNKNOWN``: the line dropped or timed out while DATA was under way: the server may
  have taken the message, so it must never be sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import unquote, urlsplit

import aiosmtplib

from shared.settings import ConfigurationError

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
DEFAULT_TIMEOUT = 30.0
QUIT_TIMEOUT = 1.0


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    NOT_HANDED_OVER = "not_handed_over"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    reply: str


@dataclass(frozen=True)
class RelayAddress:
    host: str
    port: int
    use_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> RelayAddress:
        expected = ConfigurationError(
            "LAUNCHER_SMTP_URL: expected smtp://[user:password@]host[:port] or smtps://..."
        )  # never the URL itself: it may hold the relay's password
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise expected from None
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise expected
        return cls(
            host=parts.hostname,
            port=port or DEFAULT_PORTS[parts.scheme],
            use_tls=parts.scheme == "smtps",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class SmtpRelay:
    """Sends one message to one recipient per transaction, ``connections`` at a time, each
    connection kept open for the next message."""

    def __init__(
        self, address: RelayAddress, *, connections: int, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._address = address
        self._timeout = timeout
        # Connect, MAIL, RCPT and DATA each wait at most ``timeout``: no transaction is
        # left in flight longer than this.
        self.transaction_limit = timeout * 4
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[aiosmtplib.SMTP] = []
        self._local_hostname = socket.getfqdn()

    async def send(self, sender: str, recipient: str, message: bytes) -> SendResult:
        async with self._slots:
            client = self._idle.pop() if self._idle else self._client()
            result, reusable = await self._transact(client, sender, recipient, message)
            if reusable:
                self._idle.append(client)
            else:
                client.close()
            return result

    async def close(self) -> None:
        """Says QUIT on each idle connection, not waiting long for a relay that is slow to
        answer: nothing depends on the reply."""
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit(timeout=QUIT_TIMEOUT)
            client.close()

    async def _transact(
        self, client: aiosmtplib.SMTP, sender: str, recipient: str, message: bytes
    ) -> tuple[SendResult, bool]:
        """The result, and whether the connection can carry the next message."""
        handing_over = False
        try:
            async with asyncio.timeout(self.transaction_limit):
                await self._start(client, sender)
                try:
                    await client.rcpt(recipient)
                except (aiosmtplib.SMTPRecipientRefused, UnicodeEncodeError) as refused:
                    return _refusal(refused), await _reset(client)
                handing_over = True
                response = await client.data(message)
                return SendResult(Outcome.ACCEPTED, f"{response.code} {response.message}"), True
        except aiosmtplib.SMTPDataError as refused:
            return _refusal(refused), True
        except (aiosmtplib.SMTPException, OSError, TimeoutError, UnicodeEncodeError) as error:
            outcome = Outcome.UNKNOWN if handing_over else Outcome.NOT_HANDED_OVER
            return SendResult(outcome, _describe(error)), False

    async def _start(self, client: aiosmtplib.SMTP, sender: str) -> None:
        """Connected, and MAIL FROM accepted; a pooled connection the server closed while
        idle is opened again once."""
        reused = client.is_connected
        if not reused:
            await client.connect()
        try:
            await client.mail(sender)
        except aiosmtplib.SMTPServerDisconnected:
            if not reused:
                raise
            client.close()
            await client.connect()
            await client.mail(sender)

    def _client(self) -> aiosmtplib.SMTP:
        address = self._address
        return aiosmtplib.SMTP(
            hostname=address.host,
            port=address.port,
            username=address.username,
            password=address.password,
            use_tls=address.use_tls,
            start_tls=False if address.use_tls else None,
            timeout=self._timeout,
            local_hostname=self._local_hostname,
        )


def _refusal(refused: aiosmtplib.SMTPResponseException | UnicodeEncodeError) -> SendResult:
    if isinstance(refused, UnicodeEncodeError):
        return SendResult(Outcome.HARD_BOUNCE, "the address is not ASCII (SMTPUTF8 not used)")
    outcome = Outcome.HARD_BOUNCE if 500 <= refused.code < 600 else Outcome.SOFT_BOUNCE
    return SendResult(outcome, f"{refused.code} {refused.message}")


async def _reset(client: aiosmtplib.SMTP) -> bool:
    """RSET after a refused recipient; whether the connection is still usable."""
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        return False
    return True


def _describe(error: BaseException) -> str:
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{error.code} {error.message}"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
