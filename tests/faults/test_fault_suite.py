"""The fault suite, small: four faults over 40 payments, and its invariants.

``make faults`` runs every fault over 1,000 payments (``python -m tests.faults``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.suite import run

FAULTS = ("SIGKILL payment", "SIGSTOP analytics 15 s", "redelivery", "poison")


@pytest.mark.timeout(600)
def test_faults_lose_nothing_double_nothing_and_dead_letter_only_poison(tmp_path: Path) -> None:
    report = run(40, FAULTS, tmp_path)

    for row in report.rows:
        assert (row.fault, row.recorded) == (row.fault, row.charged), "accepted = recorded"
        assert (row.fault, row.duplicates, row.lost) == (row.fault, 0, 0)
        assert (row.fault, row.reversed) == (row.fault, row.refunds)
    assert sum(row.charged for row in report.rows) > 0
    assert report.poison.missing == [], "every poison message in its topic's DLQ"
    assert report.poison.strangers == [], "nothing but poison in the DLQs"
    assert report.campaign_planned == 1
