"""Segmentation figures: the compute step at a million customers, the batched read from
MongoDB, and the quality of the segments against a base with planted groups.

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
from services.segmenter.domain import Segmentation, SegmentationPolicy, segment_customers
from services.segmenter.repository import Customers
from shared.storage.mongo import connect, service_database
from tests.support.planted_customers import PLANTED_GROUPS, PlantedBase, planted_base

POLICY = SegmentationPolicy()


def compute_step(customers: int) -> None:
    base = planted_base(customers)
    started = time.perf_counter()
    segmentation = segment_customers(base.columns, POLICY)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    segment_customers(base.columns, POLICY)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sizes = ", ".join(f"{m.segment.segment_id} {m.segment.size:,}" for m in segmentation.segments)
    print(f"\nsegmentation compute ({customers:,} generated customers, no database)")
    print(f"features -> clusters -> sizes and members: {elapsed:.1f} s")
    print(f"peak memory (tracemalloc, second run): {peak / 2**20:.0f} MiB")
    print(f"segments: {sizes}")


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


async def read_step(mongodb_url: str, db_prefix: str, customers: int, server: str) -> None:
    """Insert ``customers`` 250 per insert_many (the stand-in's insert cost grows with the
    collection, so it holds thousands, not millions), then time the segmenter's own batched
    read into columns, and trace its memory in a second read."""
    client = connect(mongodb_url, app_name="bench-segmentation")
    db = service_database(client, "bench_segmenter", db_prefix)
    now = datetime.now(UTC)
    try:
        await db["customers"].drop()
        for start in range(0, customers, 250):
            batch = [customer_document(i, now) for i in range(start, min(start + 250, customers))]
            await db["customers"].insert_many(batch)
        reader = Customers(db, batch_size=1000)
        started = time.perf_counter()
        columns = await reader.columns(now)
        elapsed = time.perf_counter() - started
        tracemalloc.start()
        await reader.columns(now)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rate = len(columns) / elapsed
        print(f"\nsegmentation read from MongoDB ({server})")
        print(
            f"read {len(columns):,} customers in batches of 1000: {elapsed:.2f} s, "
            f"{rate:,.0f} docs/s; 1,000,000 at this rate: ~{1_000_000 / rate:.0f} s"
        )
        print(
            f"peak memory (tracemalloc, second read): {peak / 2**20:.1f} MiB, "
            f"{peak / len(columns):,.0f} B per customer while reading"
        )
        await db["customers"].drop()
    finally:
        await client.close()


def planted_rates(base: PlantedBase, customer_ids: list[str]) -> float:
    """The true conversion rate of these customers: their planted groups' rates, averaged."""
    position = {cid: i for i, cid in enumerate(base.columns.customer_ids.tolist())}
    rows = np.array([position[cid] for cid in customer_ids])
    rates = np.array([g.conversion_rate for g in PLANTED_GROUPS])
    return float(rates[base.groups[rows]].mean())


def simulated_history(
    base: PlantedBase, segmentation: Segmentation, campaigns: int
) -> dict[str, Outcome]:
    """Each campaign reaches every segment in full; members buy at their planted rate."""
    rng = np.random.default_rng(11)
    position = {cid: i for i, cid in enumerate(base.columns.customer_ids.tolist())}
    history: dict[str, Outcome] = {}
    for _ in range(campaigns):
        for members in segmentation.segments:
            rows = np.zeros(len(base.columns), dtype=np.bool_)
            rows[[position[cid] for cid in members.customer_ids]] = True
            reached = Outcome(int(rows.sum()), base.conversions(rows, rng))
            history[members.segment.segment_id] = (
                history.get(members.segment.segment_id, Outcome()) + reached
            )
    return history


def quality(customers: int) -> None:
    base = planted_base(customers, seed=2)
    segmentation = segment_customers(base.columns, POLICY)
    found = {cid: m.segment.segment_id for m in segmentation.segments for cid in m.customer_ids}
    labels = [found[cid] for cid in base.columns.customer_ids.tolist()]
    ari = adjusted_rand_score(base.groups, labels)
    print(f"\nsegmentation quality ({customers:,} customers, three planted groups)")
    print(f"adjusted Rand index, found vs planted: {ari:.3f} (expected >= 0.9)")
    history = simulated_history(base, segmentation, campaigns=2)
    informed = segment_customers(base.columns, POLICY, history)
    print("predicted conversion after two campaigns of history vs planted rate:")
    for members in informed.segments:
        segment = members.segment
        planted = planted_rates(base, members.customer_ids)
        error = abs(segment.predicted_conversion_rate - planted) / planted
        interval = segment.predicted_conversion_interval
        bounds = f"[{interval.low:.4f}, {interval.high:.4f}]" if interval else ""
        print(
            f"  {segment.segment_id}: predicted {segment.predicted_conversion_rate:.4f} "
            f"80% {bounds}, planted {planted:.4f}, relative error {error:.1%} (expected <= 20%)"
        )
