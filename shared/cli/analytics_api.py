"""The analytics service's report endpoint, as the CLI reads it."""

from __future__ import annotations

from typing import Any

import httpx


class ReportNotFoundError(LookupError):
    """Analytics knows nothing of the campaign (yet)."""


class KeyRefusedError(PermissionError):
    """Analytics does not take the key sent, or it lacks the ``reports:read`` scope."""


async def fetch_report(
    analytics_url: str, headers: dict[str, str], campaign_id: str
) -> dict[str, Any]:
    """``headers`` carry the key (``CliSettings.reporting_headers``)."""
    async with httpx.AsyncClient(base_url=analytics_url, headers=headers, timeout=10) as client:
        response = await client.get(f"/v1/campaigns/{campaign_id}/report")
    if response.status_code in (401, 403):
        raise KeyRefusedError(
            f"analytics refused the key ({response.status_code}): set ANALYTICS_API_KEY to "
            "its key, or to a key from API_KEYS_FILE with the reports:read scope"
        )
    if response.status_code == 404:
        raise ReportNotFoundError(f"analytics has no report for campaign {campaign_id!r}")
    response.raise_for_status()
    report: dict[str, Any] = response.json()
    return report
