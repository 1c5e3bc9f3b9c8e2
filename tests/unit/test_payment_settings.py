"""Outside local mode the payment service takes real money or does not start: every processor
a route can reach needs its credentials, and the sandbox exists only in local mode."""

from __future__ import annotations

import pytest

from services.payment.app import processors
from services.payment.processors.sandbox import SandboxProcessor
from services.payment.settings import PaymentSettings
from services.payment.storage.field_encryption import generate_key
from shared.settings import load_settings

PRODUCTION = {
    "ENVIRONMENT": "production",
    "PAYMENT_API_KEY": "k" * 32,
    "PAYMENT_DATA_KEY": f"prod-1:{generate_key()}",
    "PAYMENT_FINGERPRINT_KEY": "f" * 32,
}
CREDENTIALS = {
    "STRIPE_API_KEY": "sk_live_" + "s" * 24,
    "PAYPAL_CLIENT_ID": "paypal-client",
    "PAYPAL_CLIENT_SECRET": "p" * 32,
    "CRYPTO_API_KEY": "c" * 32,
}


def environment(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name in (*PRODUCTION, *CREDENTIALS, "PAYMENT_ROUTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("missing", ["STRIPE_API_KEY", "PAYPAL_CLIENT_SECRET", "CRYPTO_API_KEY"])
def test_production_start_up_stops_naming_a_routed_processor_s_missing_credential(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    environment(monkeypatch, PRODUCTION | {k: v for k, v in CREDENTIALS.items() if k != missing})

    with pytest.raises(SystemExit) as stopped:
        load_settings(PaymentSettings)

    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"configuration error: {missing}")


def test_production_with_every_credential_serves_no_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment(monkeypatch, PRODUCTION | CREDENTIALS)

    chosen = processors(load_settings(PaymentSettings))

    assert sorted(chosen) == ["crypto", "paypal", "stripe"]
    assert not any(isinstance(adapter, SandboxProcessor) for adapter in chosen.values())


def test_a_processor_no_route_reaches_needs_no_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cards_only = (
        '{"credit_card": ["stripe"], "debit_card": ["stripe"], "paypal": ["stripe"], '
        '"bitcoin": ["stripe"], "ethereum": ["stripe"]}'
    )
    stripe_only = {"STRIPE_API_KEY": CREDENTIALS["STRIPE_API_KEY"], "PAYMENT_ROUTES": cards_only}
    environment(monkeypatch, PRODUCTION | stripe_only)

    settings = load_settings(PaymentSettings)

    assert set(processors(settings)) == {"stripe"}


def test_local_mode_without_credentials_serves_the_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment(monkeypatch, {})

    chosen = processors(load_settings(PaymentSettings))

    assert all(isinstance(adapter, SandboxProcessor) for adapter in chosen.values())
