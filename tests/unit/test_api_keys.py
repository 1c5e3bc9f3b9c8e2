"""API keys: the keys file holds hashes only, scopes decide, rewrites rotate keys in place,
development keys stay in local mode, and ``campaignctl api-key new`` makes both halves."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from services.analytics.settings import AnalyticsSettings
from services.content.settings import ContentSettings
from services.planner.settings import PlannerSettings
from services.segmenter.settings import SegmenterSettings
from shared.api_keys.keyring import AccessDeniedError, ApiKeys, bearer_token
from shared.api_keys.keys import (
    ALL_SCOPES,
    KeysFileError,
    Scope,
    keys_file_line,
    new_key,
    parse_keys_file,
)
from shared.cli.app import app as campaignctl
from shared.cli.settings import CliSettings

READER, WRITER = new_key(), new_key()


def replace_file(path: Path, text: str) -> None:
    aside = path.with_suffix(".new")
    aside.write_text(text)
    os.replace(aside, path)


def test_a_keys_file_line_holds_the_hash_never_the_key() -> None:
    line = keys_file_line("dashboard", [Scope.REPORTS_READ, Scope.EVENTS_WRITE], READER)

    assert READER not in line
    assert line.startswith("dashboard events:write,reports:read sha256:")
    [key] = parse_keys_file(line)
    assert (key.name, key.scopes) == ("dashboard", {Scope.REPORTS_READ, Scope.EVENTS_WRITE})


def test_new_keys_are_long_random_and_distinct() -> None:
    keys = {new_key() for _ in range(100)}

    assert len(keys) == 100
    assert all(len(key) >= 43 for key in keys)


def test_comments_and_blank_lines_are_skipped_and_every_key_is_valid_at_once(
    tmp_path: Path,
) -> None:
    keys_file = tmp_path / "api-keys"
    keys_file.write_text(
        "# name scopes hash\n\n"
        f"{keys_file_line('reader', [Scope.PAYMENTS_READ], READER)}  # the dashboard\n"
        f"{keys_file_line('writer', [Scope.PAYMENTS_WRITE], WRITER)}\n"
    )
    keys = ApiKeys([], keys_file)

    assert keys.authorize(READER, Scope.PAYMENTS_READ).name == "reader"
    assert keys.authorize(WRITER, Scope.PAYMENTS_WRITE).name == "writer"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("reader payments:read", "expected '<name> <scope>"),
        ("reader payments:reed sha256:" + "0" * 64, "unknown scope 'payments:reed'"),
        ("reader payments:read sha256:abc", "64 lower-case hex digits"),
        ("reader payments:read md5:" + "0" * 32, "64 lower-case hex digits"),
        ("read/er payments:read sha256:" + "0" * 64, "a key's name is"),
    ],
)
def test_a_bad_line_is_named_by_its_number_without_its_hash(line: str, problem: str) -> None:
    with pytest.raises(KeysFileError) as refused:
        parse_keys_file(f"# header\n{line}\n")

    assert str(refused.value).startswith("line 2: ")
    assert problem in str(refused.value)
    assert "0" * 32 not in str(refused.value)


def test_no_key_a_foreign_key_or_another_scheme_is_401_asking_for_a_bearer_key() -> None:
    keys = ApiKeys.with_service_key("PAYMENT_API_KEY", SecretStr(READER), None)

    for presented in (None, "", "not-a-key-of-ours", READER.upper()):
        with pytest.raises(AccessDeniedError) as denied:
            keys.authorize(presented, Scope.PAYMENTS_READ)
        assert (denied.value.status, denied.value.headers) == (401, {"WWW-Authenticate": "Bearer"})
    assert bearer_token(f"Basic {READER}") is None
    assert bearer_token(f"bearer {READER}") == READER


def test_a_key_without_the_scope_is_403_naming_the_scope() -> None:
    keys = ApiKeys.with_service_key(
        "ANALYTICS_API_KEY", SecretStr(READER), None, scopes=[Scope.REPORTS_READ]
    )

    with pytest.raises(AccessDeniedError) as denied:
        keys.authorize(READER, Scope.EVENTS_WRITE)

    assert denied.value.status == 403
    assert "events:write" in denied.value.message
    assert keys.authorize(READER, Scope.REPORTS_READ).name == "ANALYTICS_API_KEY"


def test_a_service_key_holds_every_scope() -> None:
    keys = ApiKeys.with_service_key("PAYMENT_API_KEY", SecretStr(WRITER), None)

    assert {scope for scope in Scope if keys.authorize(WRITER, scope)} == ALL_SCOPES


def test_rewriting_the_file_rotates_keys_without_a_new_keyring(tmp_path: Path) -> None:
    keys_file = tmp_path / "api-keys"
    replace_file(keys_file, keys_file_line("old", [Scope.REPORTS_READ], READER))
    keys = ApiKeys([], keys_file)
    assert keys.authenticate(READER) is not None

    replace_file(keys_file, keys_file_line("new", [Scope.REPORTS_READ], WRITER))

    assert keys.authenticate(READER) is None
    assert keys.authenticate(WRITER) is not None


def test_a_rewrite_that_does_not_parse_keeps_the_keys_read_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys_file = tmp_path / "api-keys"
    line = keys_file_line("reader", [Scope.REPORTS_READ], READER)
    replace_file(keys_file, line)
    keys = ApiKeys([], keys_file)

    replace_file(keys_file, line.replace("reports:read", "reports:raed"))

    assert keys.authenticate(READER) is not None
    assert "line 1: unknown scope 'reports:raed'" in caplog.text
    assert line.split()[-1] not in caplog.text


def test_a_missing_file_holds_no_keys_until_it_appears_and_none_once_it_is_gone(
    tmp_path: Path,
) -> None:
    keys_file = tmp_path / "api-keys"
    keys = ApiKeys([], keys_file)
    assert keys.authenticate(READER) is None

    replace_file(keys_file, keys_file_line("reader", [Scope.REPORTS_READ], READER))
    assert keys.authenticate(READER) is not None

    keys_file.unlink()
    assert keys.authenticate(READER) is None


def test_a_file_that_does_not_parse_at_start_up_names_the_variable_and_the_line(
    tmp_path: Path,
) -> None:
    keys_file = tmp_path / "api-keys"
    keys_file.write_text("# keys\nreader reports:read\n")

    with pytest.raises(KeysFileError, match=r"^API_KEYS_FILE .*api-keys: line 2: expected"):
        ApiKeys([], keys_file)


@pytest.mark.parametrize(
    "settings_class", [AnalyticsSettings, PlannerSettings, SegmenterSettings, ContentSettings]
)
def test_the_development_analytics_key_is_refused_outside_local_mode(
    settings_class: type[AnalyticsSettings | PlannerSettings],
) -> None:
    chosen: dict[str, object] = {"analytics_api_key": SecretStr("k" * 32)}
    if settings_class is ContentSettings:
        chosen["content_sender_postal_address"] = "Shop Ltd, 1 Main St, Springfield"
    if settings_class is AnalyticsSettings:
        chosen["dashboard_session_secret"] = SecretStr("s" * 32)

    with pytest.raises(ValidationError, match="ANALYTICS_API_KEY must be set outside local mode"):
        settings_class(environment="production")
    assert settings_class(environment="production", **chosen).environment == "production"


def test_campaignctl_sends_development_keys_in_local_mode_only() -> None:
    local = CliSettings()
    assert local.reporting_headers == {"Authorization": "Bearer dev-only-analytics-api-key"}
    with pytest.raises(ValidationError, match="PAYMENT_API_KEY must be set outside local mode"):
        CliSettings(environment="production")
    chosen = CliSettings(
        environment="production",
        payment_api_key=SecretStr("p" * 32),
        analytics_api_key=SecretStr("a" * 32),
    )
    assert chosen.reporting_headers == {"Authorization": f"Bearer {'a' * 32}"}


def test_campaignctl_api_key_new_prints_the_key_once_and_a_line_that_opens_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(
        campaignctl,
        [
            "api-key",
            "new",
            "--name",
            "dashboard",
            "--scope",
            "reports:read",
            "--scope",
            "events:write",
        ],
    )

    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    key, line = lines[1], lines[3]
    assert result.output.count(key) == 1
    assert key not in line
    keys_file = tmp_path / "api-keys"
    keys_file.write_text(line + "\n")
    keys = ApiKeys([], keys_file)
    assert keys.authorize(key, Scope.EVENTS_WRITE).name == "dashboard"
    assert key not in keys_file.read_text()
    assert key not in caplog.text


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--name", "dashboard", "--scope", "reports:raed"], "unknown scope"),
        (["--name", "a dashboard", "--scope", "reports:read"], "name"),
        (["--name", "dashboard"], "--scope"),
    ],
)
def test_campaignctl_api_key_new_refuses_unknown_scopes_and_bad_names(
    args: list[str], problem: str
) -> None:
    result = CliRunner().invoke(campaignctl, ["api-key", "new", *args])

    assert result.exit_code == 2
    assert problem in result.output
