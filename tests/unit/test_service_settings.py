"""Settings refused at start-up: a lease renewed no sooner than it expires, bad URLs (echoed
without their passwords) and a MongoDB CA bundle that holds no certificate."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import ConfigurationError, ServiceSettings, load_settings
from shared.storage.mongo import connect


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


def test_a_bad_url_is_echoed_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MONGODB_URL", "http://app:hunter2@db.example.com")

    with pytest.raises(SystemExit):
        load_settings(ServiceSettings)

    err = capsys.readouterr().err
    assert err.startswith("configuration error: MONGODB_URL: ")
    assert "'http://app:***@db.example.com'" in err
    assert "hunter2" not in err


def test_a_malformed_connection_string_is_a_configuration_error_without_its_password() -> None:
    with pytest.raises(ConfigurationError) as refused:
        connect("mongodb://app:hunter2@db.example.com:port", app_name="test")
    assert str(refused.value).startswith("MONGODB_URL: not a connection string: ")
    assert "hunter2" not in str(refused.value)


def test_a_ca_file_that_holds_no_certificate_names_its_variable(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")

    with pytest.raises(ConfigurationError, match=r"^MONGODB_TLS_CA_FILE: cannot load"):
        connect("mongodb://db.example.com", app_name="t", tls_ca_file=tmp_path / "ca.pem")
