"""The analytics service's report endpoint, as the CLI reads it."""

from __future__ import annotations

from typing import Any

import httpx


class ReportNotFoundError(LookupError):
    """Analytics knows nothing of the campaign (yet)."""


async def fetch_report(analytics_url: str, campaign_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=analytics_url, timeout=10) as client:
        response = await client.get(f"/v1/campaigns/{campaign_id}/report")
    if response.status_code == 404:
        raise ReportNotFoundError(f"analytics has no report for campaign {campaign_id!r}")
    response.raise_for_status()
    report: dict[str, Any] = response.json()
    return report
