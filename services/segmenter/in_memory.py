"""Segmenting a base already held in memory (a test's, a benchmark's generated chunks)
through the same passes as a streamed one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from services.segmenter.conversion import Outcome
from services.segmenter.domain import Segmentation, SegmentationPolicy
from services.segmenter.features import CustomerColumns, Strings
from services.segmenter.streaming import SegmentAssigner, segmentation_passes


def fit_in_memory(
    chunks: Callable[[], Iterable[CustomerColumns]], policy: SegmentationPolicy
) -> SegmentAssigner:
    """``fit_streamed`` for chunks already in memory (generated, or a test's base)."""
    passes = segmentation_passes(policy)
    step = next(passes)
    while True:
        for chunk in chunks():
            step.add(chunk)
        try:
            step = next(passes)
        except StopIteration as done:
            assigner: SegmentAssigner = done.value
            return assigner


@dataclass(frozen=True)
class SegmentedBase:
    """A base held in memory, segmented: the segmentation and each customer's segment."""

    segmentation: Segmentation
    customer_ids: Strings
    segment_ids: Strings  # aligned with ``customer_ids``

    def members(self, segment_id: str) -> list[str]:
        return [str(i) for i in self.customer_ids[self.segment_ids == segment_id]]


def segment_customers(
    customers: CustomerColumns,
    policy: SegmentationPolicy,
    history: Mapping[str, Outcome] | None = None,
    chunk_size: int = 10_000,
) -> SegmentedBase:
    """Segment a base already in memory, through the same passes as a streamed one."""

    def chunks() -> Iterable[CustomerColumns]:
        for start in range(0, len(customers), chunk_size):
            yield customers.take(np.arange(start, min(start + chunk_size, len(customers))))

    assigner = fit_in_memory(chunks, policy)
    assigned = [assigner.assign(chunk) for chunk in chunks()]
    segment_ids = np.concatenate(assigned) if assigned else np.empty(0, dtype=object)
    return SegmentedBase(assigner.segmentation(history or {}), customers.customer_ids, segment_ids)
