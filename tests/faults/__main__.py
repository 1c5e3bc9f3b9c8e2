"""``python -m tests.faults [--payments N] [--fault NAME ...]``: the fault table, and exit 1
unless every fault kept accepted = recorded, no duplicate, nothing lost, and only poison
messages (all of them) in the dead-letter topics."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.faults.suite import FAULTS, Report, run
from tests.faults.tally import table


def summary(report: Report) -> str:
    poison = report.poison
    return "\n".join(
        [
            table(report.rows),
            f"poison: {poison.published} published; missing from their DLQ: "
            f"{poison.missing or 'none'}; other dead letters: {poison.strangers or 'none'}",
            f"campaign: planned {report.campaign_planned}, launched {report.campaign_launched}",
            "holds" if report.holds else "FAILED",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=1000, help="in all, split over faults")
    parser.add_argument("--fault", action="append", choices=list(FAULTS), help="default: all")
    parser.add_argument("--workdir", type=Path, help="logs and the database file (default: tmp)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="faults-"))
    print(f"fault suite: {args.payments} payments; logs in {workdir / 'logs'}", flush=True)
    report = run(args.payments, args.fault or list(FAULTS), workdir)
    print(summary(report))
    return 0 if report.holds else 1


if __name__ == "__main__":
    sys.exit(main())
