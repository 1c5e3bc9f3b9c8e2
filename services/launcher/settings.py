"""Launcher configuration: where email goes and how fast, who is sent nothing, tracking keys,
the ad platform and how its bids are controlled.

Secrets are ``SecretStr``. Development defaults start with ``dev-only-`` and are refused
outside local mode.
"""

import base64
from decimal import Decimal
from pathlib import Path
from typing import Self

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator

from services.launcher.ads.allocation import PAID_CHANNELS
from services.launcher.domain.bidding import BidStrategy
from services.launcher.domain.tracking import TrackingKeys
from shared.events.common import Channel
from shared.money import DecimalString
from shared.settings import ReportingSettings

# Development only: a fixed key so tracked links stay valid across local restarts.
DEV_ONLY_TRACKING_KEYS = (
    "dev-only-t1:" + base64.b64encode(b"dev-only-launcher-tracking-key-000").decode()
)
DEV_ONLY_AD_PLATFORM_TOKEN = "dev-only-ad-platform-token"  # noqa: S105 - refused outside local
EXAMPLE_SENDER = "Example Shop <EXAMPLE-offers@shop.example.com>"


class LauncherSettings(ReportingSettings):
    launcher_api_port: int = Field(
        default=8013, ge=1, le=65535, description="Health and the public tracking routes."
    )
    launcher_public_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8013"),
        description="Where recipients reach the tracking routes: the base of every tracked "
        "link and unsubscribe URL.",
    )
    launcher_tracking_keys: SecretStr = Field(
        default=SecretStr(DEV_ONLY_TRACKING_KEYS),
        description="HMAC keyring for tracking tokens, 'id:base64 key,...': the first signs, "
        "every key verifies, so keys rotate by putting a new one first.",
    )
    launcher_tracking_rate_per_minute: int = Field(
        default=120, ge=1, le=100_000, description="Tracking requests per client address."
    )
    launcher_trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks whose X-Forwarded-For is believed "
        "when rate-limiting the tracking routes per client.",
    )
    launcher_smtp_url: str = Field(
        default="smtp://127.0.0.1:8025",
        pattern=r"^smtps?://",
        description="smtp://host:port (STARTTLS when offered) or smtps://host:port (TLS), "
        "with optional user:password@.",
    )
    launcher_sender: str = Field(
        default=EXAMPLE_SENDER, min_length=3, description="The From header of every email."
    )
    launcher_send_rate: float | None = Field(
        default=None, gt=0, description="Messages per second at most; unset: as fast as SMTP takes."
    )
    launcher_send_concurrency: int = Field(
        default=16, ge=1, le=512, description="SMTP transactions in flight at once."
    )
    launcher_dkim_key_file: Path | None = Field(
        default=None, description="PEM private key: every email is DKIM-signed with it."
    )
    launcher_dkim_selector: str = Field(default="campaign", pattern=r"^[A-Za-z0-9._-]+$")
    launcher_frequency_cap: int = Field(
        default=3, ge=1, le=100, description="Marketing messages per customer per 7 days."
    )
    launcher_holdout_share: Decimal = Field(
        default=Decimal("0.05"), ge=0, lt=1, description="Share of each audience sent nothing."
    )
    launcher_ad_platform_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8030"),
        description="The ad platform's Graph-style API (the sandbox exchange locally).",
    )
    launcher_ad_platform_token: SecretStr = Field(
        default=SecretStr(DEV_ONLY_AD_PLATFORM_TOKEN),
        description="The ad platform's access token.",
    )
    launcher_ad_account_id: str = Field(default="act_sandbox", min_length=1)
    launcher_ads_report_seconds: float = Field(
        default=10, gt=0, le=3600, description="How often ad delivery reports are read."
    )
    launcher_ad_api_version: str = Field(
        default="v23.0", pattern=r"^v\d+\.\d+$", description="The Graph API version called."
    )
    launcher_ad_page_id: str = Field(
        default="sandbox_page", min_length=1, description="The Facebook Page the ads run as."
    )
    launcher_ad_bids: dict[Channel, DecimalString] = Field(
        default={Channel.SOCIAL: Decimal("9"), Channel.WEB: Decimal("6")},
        description="Each paid channel's launch bid per thousand impressions, in the "
        "campaign's currency (rounded half-up to its minor unit); the controllers move it.",
    )
    launcher_ad_click_feed: bool = Field(
        default=True,
        description="Read each ad click with its id from the sandbox exchange's click feed; "
        "Meta's API has none, so turn it off against Meta.",
    )
    launcher_waves: int = Field(
        default=4,
        ge=1,
        le=50,
        description="Email waves in all: the launch's own, split evenly, then each one "
        "weighted by the latest A/B verdicts. 1 sends everyone at launch.",
    )
    launcher_first_wave_share: Decimal = Field(
        default=Decimal("0.2"),
        gt=0,
        le=1,
        description="Share of the email recipients in the launch's own wave; the rest are "
        "spread evenly over the later waves.",
    )
    launcher_wave_timeout_seconds: float = Field(
        default=600,
        gt=0,
        description="With no campaign.evaluated this long after the previous release, the "
        "next wave goes with the last weights received (equal if none).",
    )
    launcher_bid_strategy: BidStrategy = Field(
        default=BidStrategy.TARGET_CPA,
        description="How each optimisation cycle sets an ad set's value bid: target_cpa or "
        "target_roas (the arm's net revenue per conversion over the target ROAS).",
    )
    launcher_target_cpa: Decimal | None = Field(
        default=None,
        gt=0,
        description="Cost per conversion aimed at, in the campaign's currency; unset: the "
        "product's price over LAUNCHER_TARGET_ROAS.",
    )
    launcher_target_roas: Decimal = Field(
        default=Decimal(2), gt=0, description="Net revenue aimed at per unit of ad spend."
    )
    launcher_bid_min_clicks: int = Field(
        default=200,
        ge=1,
        le=1_000_000,
        description="Tracked clicks before the bid moves all the way to the target-CPA bid; "
        "fewer move it that share of the way.",
    )
    launcher_bid_max_step: Decimal = Field(
        default=Decimal(2),
        gt=1,
        le=10,
        description="Most a bid is multiplied (or divided) by in one optimisation cycle.",
    )
    launcher_ad_max_bids: dict[Channel, DecimalString] = Field(
        default={Channel.SOCIAL: Decimal("18"), Channel.WEB: Decimal("12")},
        description="Each paid channel's ceiling on the controlled bid per thousand "
        "impressions, in the campaign's currency; at least its launch bid.",
    )
    launcher_pacing_gain: Decimal = Field(
        default=Decimal("0.3"),
        gt=0,
        le=1,
        description="Exponent on (wanted / seen spend rate) when pacing moves a bid.",
    )
    launcher_pacing_thin_share: Decimal = Field(
        default=Decimal("0.05"),
        ge=0,
        lt=1,
        description="Share of an ad set's budget left under which pacing bids up no more.",
    )

    @field_validator("launcher_tracking_keys")
    @classmethod
    def _tracking_keyring(cls, keys: SecretStr) -> SecretStr:
        TrackingKeys.parse(keys.get_secret_value())  # KeyringError names the entry, not the key
        return keys

    @field_validator("launcher_dkim_key_file")
    @classmethod
    def _dkim_key_readable(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"{path} is not a readable file")
        return path

    @field_validator("launcher_ad_bids")
    @classmethod
    def _a_bid_per_paid_channel(cls, bids: dict[Channel, Decimal]) -> dict[Channel, Decimal]:
        if missing := [c.value for c in PAID_CHANNELS if c not in bids]:
            raise ValueError(f"needs a bid for {', '.join(missing)}")
        if Channel.EMAIL in bids:
            raise ValueError("email is not bought: bid only on social and web")
        if any(bid <= 0 for bid in bids.values()):
            raise ValueError("every bid must be greater than 0")
        return bids

    @model_validator(mode="after")
    def _max_bids_over_launch_bids(self) -> Self:
        for channel in PAID_CHANNELS:
            ceiling = self.launcher_ad_max_bids.get(channel)
            if ceiling is None or ceiling < self.launcher_ad_bids[channel]:
                raise ValueError(
                    f"launcher_ad_max_bids: {channel.value} needs a ceiling of at least its "
                    f"launch bid {self.launcher_ad_bids[channel]}"
                )
        return self

    @model_validator(mode="after")
    def _a_real_sender_outside_local(self) -> Self:
        if self.environment != "local" and "EXAMPLE" in self.launcher_sender:
            raise ValueError("LAUNCHER_SENDER must be set outside local mode")
        return self

    def secret_values(self) -> dict[str, str]:
        return super().secret_values() | {
            "launcher_tracking_keys": self.launcher_tracking_keys.get_secret_value(),
            "launcher_ad_platform_token": self.launcher_ad_platform_token.get_secret_value(),
        }
