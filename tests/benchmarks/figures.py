"""Percentiles and the one way benchmarks print their figures."""

from __future__ import annotations

import statistics
from pathlib import Path


def percentile(samples: list[float], pct: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_line(label: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    if not ms:
        return f"{label}: no samples"
    return (
        f"{label}: p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
        f"mean {statistics.fmean(ms):.1f} ms, max {max(ms):.1f} ms (n={len(ms)})"
    )


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of a process, from the kernel's high-water mark."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def spread_line(label: str, seconds: list[float]) -> str:
    """The tail as well as the middle: p50, p95, p99 and max."""
    ms = [s * 1000 for s in seconds]
    if not ms:
        return f"{label}: no samples"
    tail = ", ".join(f"p{p} {percentile(ms, p):.1f}" for p in (50, 95, 99))
    return f"{label}: {tail}, max {max(ms):.1f} ms"
