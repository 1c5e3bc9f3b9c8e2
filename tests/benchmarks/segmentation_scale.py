"""The segmentation engine at scale: generated planted bases of 1M and 10M customers fed
in chunks (no database: the stand-in stores about 9,000 documents a second), each size
in a fresh process so its peak resident memory (the kernel's high-water mark) is its own.

Printed per size: wall time and passes, peak RSS against the process's RSS before the
engine started (Python, numpy and scikit-learn loaded), the segments, and the adjusted
Rand index of found vs planted groups, from a contingency table kept chunk by chunk; then
the smallest size once more under tracemalloc, untimed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
import tracemalloc
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from services.segmenter.domain import SegmentationPolicy
from services.segmenter.features import CustomerColumns
from services.segmenter.streaming import fit_streamed
from tests.benchmarks.figures import peak_rss_mib
from tests.support.planted_customers import PLANTED_GROUPS, planted_chunks

SEED = 3


def adjusted_rand_index(table: np.ndarray) -> float:
    """ARI from a planted x found contingency table (Hubert and Arabie)."""
    pairs = lambda counts: (counts * (counts - 1) / 2).sum()  # noqa: E731
    both, rows, columns = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * columns / pairs(np.array([table.sum()]))
    return float((both - expected) / ((rows + columns) / 2 - expected))


def rss_mib() -> float:
    # The kernel's high-water mark of this process's memory map: ru_maxrss would carry the
    # parent's peak over, since Linux keeps it across the exec that spawns this process.
    return peak_rss_mib(os.getpid())


def run_engine(customers: int, chunk_size: int, traced: bool = False) -> dict[str, Any]:
    """One size, in this (fresh) process; ``traced`` adds tracemalloc's peak."""
    before = rss_mib()
    if traced:
        tracemalloc.start()
    passes = 0

    async def chunks() -> AsyncIterator[CustomerColumns]:
        nonlocal passes
        passes += 1
        for chunk in planted_chunks(customers, chunk_size, SEED):
            yield chunk.columns

    async def segment() -> dict[str, Any]:
        started = time.perf_counter()
        assigner = await fit_streamed(chunks, SegmentationPolicy())
        found: dict[str, int] = {}
        table = np.zeros((len(PLANTED_GROUPS), 0), dtype=np.int64)
        for chunk in planted_chunks(customers, chunk_size, SEED):
            segment_ids = assigner.assign(chunk.columns)
            columns = np.array([found.setdefault(str(s), len(found)) for s in segment_ids])
            if len(found) > table.shape[1]:
                table = np.pad(table, ((0, 0), (0, len(found) - table.shape[1])))
            np.add.at(table, (chunk.groups, columns), 1)
        segmentation = assigner.segmentation({})
        return {
            "seconds": time.perf_counter() - started,
            "passes": passes + 1,
            "segments": [(s.segment_id, s.size) for s in segmentation.segments],
            "ari": adjusted_rand_index(table),
        }

    figures = asyncio.run(segment())
    if traced:
        figures["traced_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return figures | {"rss_before_mib": before, "peak_rss_mib": rss_mib()}


def segmentation_scale(sizes: list[int], chunk_size: int) -> None:
    print(f"\nsegmentation engine at scale (generated planted bases, chunks of {chunk_size:,})")
    spawn = multiprocessing.get_context("spawn")
    for customers in sizes:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
            figures = fresh.submit(run_engine, customers, chunk_size).result()
        segments = ", ".join(f"{name} {size:,}" for name, size in figures["segments"])
        print(
            f"{customers:,} customers: {figures['seconds']:.1f} s over {figures['passes']} "
            f"passes ({customers / figures['seconds']:,.0f} customers/s); peak RSS "
            f"{figures['peak_rss_mib']:.0f} MiB ({figures['rss_before_mib']:.0f} MiB before "
            f"the engine); ARI vs planted {figures['ari']:.3f}"
        )
        print(f"  segments: {segments}")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
        traced = fresh.submit(run_engine, sizes[0], chunk_size, True).result()
    print(
        f"{sizes[0]:,} customers again under tracemalloc (Python's allocations, numpy's and "
        f"scikit-learn's buffers included): peak {traced['traced_peak_mib']:.0f} MiB"
    )
