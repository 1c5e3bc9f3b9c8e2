"""Segmentation figures: the chunked reader against MongoDB, and the quality of the
segments against a base with planted groups. The engine at scale is
``segmentation_scale``.

Memory is Python's own allocation peak as tracemalloc sees it (numpy and scikit-learn
report their buffers to it), measured in a second run so tracing never slows the timed one.
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from sklearn.metrics import adjusted_rand_score

from services.segmenter.conversion import Outcome
from services.segmenter.domain import SegmentationPolicy
from services.segmenter.in_memory import SegmentedBase, segment_customers
from services.segmenter.repository import Customers
from shared.storage.mongo import connect, service_database
from tests.support.planted_customers import PLANTED_GROUPS, PlantedBase, planted_base

POLICY = SegmentationPolicy()
READ_BATCH = 1000


def customer_document(index: int, now: datetime) -> dict[str, object]:
    bought = index % 3 != 0
    return {
        "_id": f"bench-customer-{index:07d}",
        "customer_id": f"bench-customer-{index:07d}",
        "email": f"customer{index}@example.com",
        "country": "US",
        "email_opt_in": index % 2 == 0,
        "created_at": now - timedelta(days=400 + index % 300),
        "last_purchase_at": now - timedelta(days=index % 200) if bought else None,
        "orders_count": 1 + index % 9 if bought else 0,
        "total_spent": {
            "amount": Decimal(index % 900) if bought else Decimal(0),
            "currency": "USD",
        },
        "last_engaged_at": now - timedelta(days=index % 60),
        "as_of": now,
    }


async def read_all(reader: Customers, now: datetime) -> int:
    read = 0
    async for chunk in reader.chunks(now):
        read += len(chunk)
    return read


async def read_step(mongodb_url: str, db_prefix: str, customers: int, server: str) -> None:
    """Insert ``customers`` 250 per insert_many (the stand-in's insert cost grows with the
    collection, so it holds thousands, not millions), then time one pass of the segmenter's
    chunked read (the engine makes four), and trace its memory in a second pass."""
    client = connect(mongodb_url, app_name="bench-segmentation")
    db = service_database(client, "bench_segmenter", db_prefix)
    now = datetime.now(UTC)
    try:
        await db["customers"].drop()
        for start in range(0, customers, 250):
            batch = [customer_document(i, now) for i in range(start, min(start + 250, customers))]
            await db["customers"].insert_many(batch)
        reader = Customers(db, batch_size=READ_BATCH)
        started = time.perf_counter()
        read = await read_all(reader, now)
        elapsed = time.perf_counter() - started
        tracemalloc.start()
        await read_all(reader, now)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rate = read / elapsed
        print(f"\nsegmentation read from MongoDB ({server})")
        print(
            f"one pass over {read:,} customers in chunks of {READ_BATCH:,}: {elapsed:.2f} s, "
            f"{rate:,.0f} docs/s; 1,000,000 at this rate: ~{1_000_000 / rate:.0f} s a pass"
        )
        print(f"peak memory (tracemalloc, second pass): {peak / 2**20:.1f} MiB")
        await db["customers"].drop()
    finally:
        await client.close()


def planted_rate(base: PlantedBase, rows: np.ndarray) -> float:
    """The true conversion rate of these customers: their planted groups' rates, averaged."""
    rates = np.array([g.conversion_rate for g in PLANTED_GROUPS])
    return float(rates[base.groups[rows]].mean())


def simulated_history(
    base: PlantedBase, segmented: SegmentedBase, campaigns: int
) -> dict[str, Outcome]:
    """Each campaign reaches every segment in full; members buy at their planted rate."""
    rng = np.random.default_rng(11)
    history: dict[str, Outcome] = {}
    for _ in range(campaigns):
        for segment in segmented.segmentation.segments:
            rows = segmented.segment_ids == segment.segment_id
            reached = Outcome(int(rows.sum()), base.conversions(rows, rng))
            history[segment.segment_id] = history.get(segment.segment_id, Outcome()) + reached
    return history


def quality(customers: int) -> None:
    base = planted_base(customers, seed=2)
    segmented = segment_customers(base.columns, POLICY)
    ari = adjusted_rand_score(base.groups, segmented.segment_ids)
    print(f"\nsegmentation quality ({customers:,} customers, three planted groups)")
    print(f"adjusted Rand index, found vs planted: {ari:.3f} (expected >= 0.95)")
    history = simulated_history(base, segmented, campaigns=2)
    informed = segment_customers(base.columns, POLICY, history).segmentation
    print("predicted conversion after two campaigns of history vs planted rate:")
    for segment in informed.segments:
        planted = planted_rate(base, segmented.segment_ids == segment.segment_id)
        error = abs(segment.predicted_conversion_rate - planted) / planted
        interval = segment.predicted_conversion_interval
        bounds = f"[{interval.low:.4f}, {interval.high:.4f}]" if interval else ""
        print(
            f"  {segment.segment_id}: predicted {segment.predicted_conversion_rate:.4f} "
            f"80% {bounds}, planted {planted:.4f}, relative error {error:.1%} (expected <= 20%)"
        )
