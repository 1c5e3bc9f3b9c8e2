"""The SMTP relay against the local sink over TCP: what each transaction came to depends on
how far it got, and connections are reused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.launcher.email.smtp import Outcome, RelayAddress, SmtpRelay
from shared.settings import ConfigurationError
from tests.support.infrastructure import free_port
from tests.support.smtp_sink import SinkUnderTest, smtp_sink

SENDER = "offers@shop.example.com"
MESSAGE = b"From: offers@shop.example.com\r\nTo: someone\r\nSubject: hello\r\n\r\nHello.\r\n"


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[SinkUnderTest]:
    async with smtp_sink(tmp_path / "mail") as running_sink:
        yield running_sink


async def test_accepted_refused_for_good_and_refused_for_now_over_one_connection(
    sink: SinkUnderTest,
) -> None:
    relay = SmtpRelay(RelayAddress.parse(sink.url), connections=1)
    try:
        accepted = await relay.send(SENDER, "ana@example.com", MESSAGE)
        hard = await relay.send(SENDER, "bounce-ana@example.com", MESSAGE)
        soft = await relay.send(SENDER, "defer-ana@example.com", MESSAGE)
        later = await relay.send(SENDER, "defer-ana@example.com", MESSAGE)
    finally:
        await relay.close()

    assert (accepted.outcome, accepted.reply[:3]) == (Outcome.ACCEPTED, "250")
    assert (hard.outcome, hard.reply[:3]) == (Outcome.HARD_BOUNCE, "550")
    assert (soft.outcome, soft.reply[:3]) == (Outcome.SOFT_BOUNCE, "451")
    assert later.outcome is Outcome.ACCEPTED
    assert [kept.rcpt_tos for kept in sink.messages()] == [
        ["ana@example.com"],
        ["defer-ana@example.com"],
    ]


async def test_a_relay_nobody_answers_was_handed_nothing() -> None:
    relay = SmtpRelay(RelayAddress("127.0.0.1", free_port(), use_tls=False), connections=1)
    result = await relay.send(SENDER, "ana@example.com", MESSAGE)
    assert result.outcome is Outcome.NOT_HANDED_OVER


async def test_a_transaction_cut_off_during_data_is_unknown_though_the_message_arrived(
    sink: SinkUnderTest,
) -> None:
    sink.sink.hold()
    relay = SmtpRelay(RelayAddress.parse(sink.url), connections=1, timeout=0.5)
    result = await relay.send(SENDER, "ana@example.com", MESSAGE)
    sink.sink.release()
    await relay.close()

    assert result.outcome is Outcome.UNKNOWN
    assert len(sink.messages(to="ana@example.com")) == 1


async def test_a_pooled_connection_the_server_dropped_is_opened_again(
    sink: SinkUnderTest,
) -> None:
    address = RelayAddress.parse(sink.url)
    relay = SmtpRelay(address, connections=1)
    try:
        first = await relay.send(SENDER, "ana@example.com", MESSAGE)
        await sink.sink.stop()  # closes the idle connection the relay kept
        await sink.sink.start(address.host, address.port)
        second = await relay.send(SENDER, "bob@example.com", MESSAGE)
    finally:
        await relay.close()

    assert (first.outcome, second.outcome) == (Outcome.ACCEPTED, Outcome.ACCEPTED)


def test_the_relay_url_names_host_port_tls_and_login() -> None:
    address = RelayAddress.parse("smtps://mailer%40shop:p%40ss@smtp.example.com")
    assert (address.host, address.port, address.use_tls) == ("smtp.example.com", 465, True)
    assert (address.username, address.password) == ("mailer@shop", "p@ss")
    assert "p@ss" not in repr(address)
    assert RelayAddress.parse("smtp://127.0.0.1:8025").port == 8025


@pytest.mark.parametrize(
    "url",
    ["http://mailer:hunter2@smtp.example.com", "smtp://mailer:hunter2@smtp.example.com:port"],
)
def test_a_bad_relay_url_is_one_configuration_error_that_never_shows_the_password(
    url: str,
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        RelayAddress.parse(url)
    assert str(refused.value).startswith("LAUNCHER_SMTP_URL: expected smtp://")
    assert "hunter2" not in str(refused.value)
