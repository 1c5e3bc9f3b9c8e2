"""Secrets read from ``<NAME>_FILE`` (Docker and Kubernetes secrets mounted as files), and the
Kafka security a service builds from its settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from faststream.security import SASLScram512

from services.analytics.settings import AnalyticsSettings
from services.content.settings import ContentSettings
from services.launcher.settings import LauncherSettings
from services.payment.settings import PaymentSettings
from services.planner.settings import PlannerSettings
from services.segmenter.settings import SegmenterSettings
from shared.cli.settings import CliSettings
from shared.messaging.security import client_options, cluster_options, kafka_security
from shared.runtime import Infrastructure
from shared.secret_files import readable_from_file
from shared.settings import KafkaClientSettings, ServiceSettings, load_settings

SECRETS = {
    PaymentSettings: [
        "payment_api_key",
        "payment_data_key",
        "payment_fingerprint_key",
        "stripe_api_key",
        "stripe_webhook_secret",
        "paypal_client_secret",
        "crypto_api_key",
        "crypto_webhook_secret",
        "kafka_sasl_password",
        "mongodb_url",
    ],
    AnalyticsSettings: ["analytics_api_key", "dashboard_session_secret"],
    LauncherSettings: ["launcher_tracking_keys", "launcher_ad_platform_token", "launcher_smtp_url"],
    PlannerSettings: ["openai_api_key", "anthropic_api_key"],
    ContentSettings: ["openai_api_key", "anthropic_api_key"],
    SegmenterSettings: ["openai_api_key", "anthropic_api_key"],
    CliSettings: ["payment_api_key", "analytics_api_key", "mongodb_url"],
}


@pytest.mark.parametrize(
    ("settings", "name"), [(cls, name) for cls, names in SECRETS.items() for name in names]
)
def test_every_secret_setting_is_readable_from_a_file(
    settings: type[ServiceSettings | CliSettings], name: str
) -> None:
    assert readable_from_file(name, settings.model_fields[name])


def test_a_plain_setting_is_not_read_from_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "partitions").write_text("7")
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS_FILE", str(tmp_path / "partitions"))

    assert load_settings(ServiceSettings).kafka_topic_partitions == 3


def test_secret_comes_from_the_file_without_its_trailing_newline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "key").write_text("a-key-from-a-mounted-secret\n")
    (tmp_path / "url").write_text("mongodb://app:hunter2@db.example.com/?replicaSet=rs0")
    monkeypatch.setenv("PAYMENT_API_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("MONGODB_URL_FILE", str(tmp_path / "url"))

    settings = load_settings(PaymentSettings)

    assert settings.payment_api_key.get_secret_value() == "a-key-from-a-mounted-secret"
    assert settings.mongodb_url == "mongodb://app:hunter2@db.example.com/?replicaSet=rs0"


def test_a_missing_secret_file_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("DASHBOARD_SESSION_SECRET_FILE", str(tmp_path / "absent"))

    with pytest.raises(SystemExit):
        load_settings(AnalyticsSettings)

    assert capsys.readouterr().err == (
        "configuration error: DASHBOARD_SESSION_SECRET_FILE: cannot read "
        f"{tmp_path / 'absent'}: No such file or directory\n"
    )


def test_a_secret_set_both_ways_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "key").write_text("a-key-from-a-mounted-secret")
    monkeypatch.setenv("ANALYTICS_API_KEY", "a-key-from-the-environment")
    monkeypatch.setenv("ANALYTICS_API_KEY_FILE", str(tmp_path / "key"))

    with pytest.raises(SystemExit):
        load_settings(AnalyticsSettings)

    err = capsys.readouterr().err
    assert err == (
        "configuration error: ANALYTICS_API_KEY_FILE: set ANALYTICS_API_KEY or "
        "ANALYTICS_API_KEY_FILE, not both\n"
    )


@pytest.mark.parametrize("settings", [ServiceSettings, CliSettings], ids=["service", "campaignctl"])
def test_sasl_without_a_password_stops_start_up(
    settings: type[KafkaClientSettings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "planner")

    with pytest.raises(SystemExit):
        load_settings(settings)

    assert "KAFKA_SASL_PASSWORD" in capsys.readouterr().err


def test_sasl_ssl_settings_build_scram_over_tls_for_broker_and_admin_client(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "password").write_text("scram-password\n")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "payment")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))

    security = kafka_security(load_settings(ServiceSettings))

    assert isinstance(security, SASLScram512)
    options = client_options(security)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "payment"
    assert options["sasl_plain_password"] == "scram-password"
    assert options["ssl_context"] is not None


def test_plaintext_needs_no_security() -> None:
    assert kafka_security(load_settings(ServiceSettings)) is None
    assert client_options(None) == {}


def test_a_service_hands_its_kafka_security_to_topic_creation_and_dead_letters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "payment")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "scram-password")

    infra = Infrastructure.build("payment", load_settings(ServiceSettings))

    assert isinstance(infra.delivery.security, SASLScram512)
    assert infra.delivery.security.username == "payment"


def test_campaignctl_reads_its_keys_from_files_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "key").write_text("a-payment-key-from-a-file\n")
    monkeypatch.setenv("PAYMENT_API_KEY_FILE", str(tmp_path / "key"))

    settings = load_settings(CliSettings)

    assert settings.payment_api_key.get_secret_value() == "a-payment-key-from-a-file"


def test_campaignctl_connects_with_the_kafka_security_the_services_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "password").write_text("scram-password\n")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-0.internal:9093")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "campaignctl")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "password"))

    options = cluster_options(load_settings(CliSettings))

    assert options["bootstrap_servers"] == "kafka-0.internal:9093"
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "campaignctl"
    assert options["sasl_plain_password"] == "scram-password"
    assert options["ssl_context"] is not None
