"""The chunked segmentation engine: planted groups recovered through mini-batch passes, a
few chunks alive at a time, the same answer for a fixed seed, order-free sampling."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from services.segmenter.clustering import ClusteringPolicy
from services.segmenter.domain import Segmentation, SegmentationPolicy
from services.segmenter.features import CustomerColumns, Strings
from services.segmenter.id_filter import CustomerIdFilter
from services.segmenter.sampling import BaseSample, customer_hashes
from services.segmenter.segment_stats import median_spend_cents, spend_bins
from services.segmenter.streaming import fit_streamed
from tests.support.planted_customers import PlantedBase, planted_base

# Samples far smaller than the base, so the mini-batch pass over every chunk runs.
SMALL_SAMPLES = SegmentationPolicy(clustering=ClusteringPolicy(score_sample=1000, fit_sample=3000))


class ChunkedBase:
    """Hands out a planted base in chunks, a new iteration per pass, and counts how many
    chunks are alive (referenced anywhere) at once."""

    def __init__(self, base: PlantedBase, chunk_size: int) -> None:
        self._base = base
        self.chunk_size = chunk_size
        self.passes = 0
        self.sizes: set[int] = set()
        self.alive = 0
        self.most_alive = 0

    def __call__(self) -> AsyncIterator[CustomerColumns]:
        self.passes += 1
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[CustomerColumns]:
        total = len(self._base.columns)
        for start in range(0, total, self.chunk_size):
            chunk = self._base.columns.take(np.arange(start, min(start + self.chunk_size, total)))
            self.sizes.add(len(chunk))
            self.alive += 1
            self.most_alive = max(self.most_alive, self.alive)
            weakref.finalize(chunk.customer_ids, self._freed)
            yield chunk
            del chunk

    def _freed(self) -> None:
        self.alive -= 1


async def segment(source: ChunkedBase, policy: SegmentationPolicy) -> tuple[Segmentation, Strings]:
    assigner = await fit_streamed(source, policy)
    assigned = [assigner.assign(chunk) async for chunk in source()]
    return assigner.segmentation({}), np.concatenate(assigned)


async def test_chunked_engine_recovers_planted_groups_through_mini_batch_passes() -> None:
    base = planted_base(20_000, seed=6)
    source = ChunkedBase(base, chunk_size=500)
    segmentation, segment_ids = await segment(source, SMALL_SAMPLES)
    assert adjusted_rand_score(base.groups, segment_ids) >= 0.95
    # survey, mini-batch refinement, naming, assignment
    assert source.passes == 4
    assert sum(s.size for s in segmentation.segments) == segmentation.total_customers == 20_000


async def test_the_engine_holds_a_chunk_or_two_never_the_base() -> None:
    source = ChunkedBase(planted_base(10_000, seed=6), chunk_size=500)
    await segment(source, SMALL_SAMPLES)
    assert source.sizes == {500}
    assert source.most_alive <= 2


async def test_a_fixed_seed_gives_the_same_segmentation_every_run() -> None:
    base = planted_base(8_000, seed=8)
    first = await segment(ChunkedBase(base, chunk_size=700), SMALL_SAMPLES)
    again = await segment(ChunkedBase(base, chunk_size=700), SMALL_SAMPLES)
    assert first[0] == again[0]
    assert first[1].tolist() == again[1].tolist()


def test_the_sample_is_the_same_whatever_the_order_and_chunking() -> None:
    columns = planted_base(5_000, seed=9).columns
    raw = np.column_stack([columns.spent_cents, columns.orders_count]).astype(np.float64)

    def sampled(order: np.ndarray, chunk_size: int) -> np.ndarray:
        sample = BaseSample(size=400, features=2)
        for start in range(0, len(order), chunk_size):
            rows = order[start : start + chunk_size]
            ids = columns.customer_ids[rows]
            sample.offer(customer_hashes(ids), ids, raw[rows])
        return sample.rows(400)

    in_order = sampled(np.arange(5_000), 1000)
    shuffled = sampled(np.random.default_rng(1).permutation(5_000), 333)
    assert np.array_equal(in_order, shuffled)


def test_an_id_hash_does_not_depend_on_the_ids_around_it() -> None:
    alone = customer_hashes(np.array(["customer-42"], dtype=object))
    among = customer_hashes(np.array(["a", "customer-42", "x" * 50], dtype=object))
    assert alone[0] == among[1]


def test_the_id_filter_knows_every_id_and_ignores_short_words() -> None:
    ids = np.array([f"customer-{n:05d}" for n in range(20_000)] + ["ana"], dtype=object)
    known = CustomerIdFilter()
    known.add(ids, customer_hashes(ids))
    assert all(customer_id in known for customer_id in ids[:-1])
    assert "ana" not in known
    assert sum(f"stranger-{n:05d}" in known for n in range(2_000)) <= 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_spend_median_from_the_histogram_is_within_a_quarter_percent(seed: int) -> None:
    cents = np.random.default_rng(seed).lognormal(10, 1.5, 50_001).astype(np.int64)
    histogram = np.bincount(spend_bins(cents), minlength=spend_bins(cents).max() + 1)
    exact = float(np.median(cents))
    assert median_spend_cents(histogram) == pytest.approx(exact, rel=0.0025)
