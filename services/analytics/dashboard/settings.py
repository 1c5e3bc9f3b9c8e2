"""The dashboard's settings: the secret that signs login sessions, how long one lasts, and
how often an open page's campaign is checked for changes."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import ReportingSettings

# Development-only: accepted in local mode, refused anywhere else (see refuse_dev_secrets).
DEV_ONLY_DASHBOARD_SESSION_SECRET = "dev-only-dashboard-session-secret"  # noqa: S105


class DashboardSettings(ReportingSettings):
    dashboard_session_secret: SecretStr = Field(
        default=SecretStr(DEV_ONLY_DASHBOARD_SESSION_SECRET),
        min_length=32,
        description="Signs the dashboard's login session cookies; changing it logs everyone "
        "out. Must be set outside local mode.",
    )
    dashboard_session_hours: float = Field(
        default=8, gt=0, le=720, description="How long a dashboard login lasts."
    )
    dashboard_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often an open campaign page's campaign is checked for changes.",
    )

    def secret_values(self) -> dict[str, str]:
        return super().secret_values() | {
            "dashboard_session_secret": self.dashboard_session_secret.get_secret_value()
        }
