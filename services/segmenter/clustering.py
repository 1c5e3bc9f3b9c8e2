"""k-means over the standardised features, k chosen between 2 and 6 by silhouette.

Scales by sampling: every candidate k is fitted and scored on the same seeded sample
(silhouette is quadratic in the rows it scores), the winner is refined on a larger sample
and then every customer is assigned to its nearest centre, which is linear and cheap.
Samples are drawn from the rows in customer-id order, so the same base read in another
order gives the same segments.

Silhouette favours the coarsest split when one group sits far from the rest, as customers
who never bought do (no recency, orders or spend at all): it would answer "buyers and
the others" every time. So the chosen k is the most detailed one whose silhouette is
within ``silhouette_tolerance`` (relative) of the best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from services.segmenter.features import Floats, Strings

Labels = npt.NDArray[np.int32]


@dataclass(frozen=True)
class ClusteringPolicy:
    min_k: int = 2
    max_k: int = 6
    score_sample: int = 10_000
    fit_sample: int = 100_000
    n_init: int = 4
    seed: int = 7
    silhouette_tolerance: float = 0.05


@dataclass(frozen=True)
class Clusters:
    labels: Labels
    k: int
    silhouette: float


def cluster(matrix: Floats, customer_ids: Strings, policy: ClusteringPolicy) -> Clusters:
    canonical = np.argsort(customer_ids, kind="stable")
    rng = np.random.default_rng(policy.seed)
    scored_rows = _sample(canonical, policy.score_sample, rng)
    scored = matrix[scored_rows]
    candidates: list[tuple[float, KMeans]] = []
    for k in range(policy.min_k, min(policy.max_k, len(scored) - 1) + 1):
        model = KMeans(n_clusters=k, n_init=policy.n_init, random_state=policy.seed)
        labels = model.fit_predict(scored)
        if len(np.unique(labels)) == k:
            candidates.append((float(silhouette_score(scored, labels)), model))
    if not candidates:  # every row identical: one group, nothing to separate
        return Clusters(labels=np.zeros(len(matrix), dtype=np.int32), k=1, silhouette=0.0)
    best = max(score for score, _ in candidates)
    good_enough = best - abs(best) * policy.silhouette_tolerance
    score, model = [(s, m) for s, m in candidates if s >= good_enough][-1]
    refined = KMeans(
        n_clusters=model.n_clusters, init=model.cluster_centers_, n_init=1, random_state=policy.seed
    ).fit(matrix[_sample(canonical, policy.fit_sample, rng)])
    return Clusters(
        labels=refined.predict(matrix).astype(np.int32), k=model.n_clusters, silhouette=score
    )


def _sample(
    canonical: npt.NDArray[np.intp], size: int, rng: np.random.Generator
) -> npt.NDArray[np.intp]:
    if len(canonical) <= size:
        return canonical
    return canonical[np.sort(rng.choice(len(canonical), size=size, replace=False))]
