"""The outbox lease settings: a lease renewed no sooner than it expires is refused at start-up."""

from __future__ import annotations

import pytest

from shared.settings import ServiceSettings, load_settings


def test_lease_renewed_no_sooner_than_it_expires_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OUTBOX_LEASE_SECONDS", "5")
    monkeypatch.setenv("OUTBOX_LEASE_RENEW_SECONDS", "5")

    with pytest.raises(SystemExit):
        load_settings(ServiceSettings)

    assert capsys.readouterr().err == (
        "configuration error: OUTBOX_LEASE_RENEW_SECONDS must be shorter than "
        "OUTBOX_LEASE_SECONDS (5.0 >= 5.0)\n"
    )
