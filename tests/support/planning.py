"""Arranging what a planner knows before a test asks it to plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.runtime import Service


async def given_audience(service: Service, reachable: int, expected_purchases: float) -> None:
    """Arrange the email audience the planner knows, later than any segmentation it may read
    from the topic: other tests' segmentations would otherwise bound email differently
    between two plans of one test."""
    await service.infra.db["audiences"].replace_one(
        {"_id": "latest"},
        {
            "as_of": datetime.now(UTC) + timedelta(days=1),
            "reachable": reachable,
            "expected_purchases": expected_purchases,
        },
        upsert=True,
    )
