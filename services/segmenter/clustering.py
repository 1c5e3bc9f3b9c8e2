"""k-means over the standardised features, k chosen between 2 and 6 by silhouette, fitted
in memory that does not grow with the base.

k is chosen on a sample: every candidate is fitted and scored on the same
``score_sample`` customers (silhouette is quadratic in the rows it scores), and the winner
is refined on ``fit_sample`` customers. Both samples are the customers with the smallest
id hashes (``sampling``), so the same base read in another order gives the same segments.
A base larger than the fitting sample then refines the centres with one pass of
mini-batch k-means (``MiniBatchKMeans.partial_fit``) over every chunk, so every customer
shapes them, and each customer goes to the nearest centre. That pass is the one step that
depends on the order of the chunks; the reader gives them in customer-id order, so the same
base gives the same centres.

Silhouette favours the coarsest split when one group sits far from the rest, as customers
who never bought do (no recency, orders or spend at all): it would answer "buyers and
the others" every time. So the chosen k is the most detailed one whose silhouette is
within ``silhouette_tolerance`` (relative) of the best.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sklearn
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score

from services.segmenter.features import Floats
from services.segmenter.segment_stats import Labels

SILHOUETTE_WORKING_MIB = 64


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
class Centres:
    points: Floats  # k x features, standardised
    silhouette: float

    @property
    def k(self) -> int:
        return len(self.points)

    def nearest(self, scaled: Floats) -> Labels:
        distances = ((scaled[:, None, :] - self.points[None, :, :]) ** 2).sum(axis=2)
        labels: Labels = distances.argmin(axis=1).astype(np.int32)
        return labels

    def keeping(self, groups: list[int]) -> Centres:
        return Centres(self.points[groups], self.silhouette)


def sampled_centres(scored: Floats, fitted: Floats, policy: ClusteringPolicy) -> Centres | None:
    """k and its centres from the samples; None when there is nothing to separate (every
    sampled customer alike)."""
    candidates: list[tuple[float, KMeans]] = []
    for k in range(policy.min_k, min(policy.max_k, len(scored) - 1) + 1):
        model = KMeans(n_clusters=k, n_init=policy.n_init, random_state=policy.seed)
        labels = model.fit_predict(scored)
        if len(np.unique(labels)) == k:
            # scikit-learn computes silhouette's pairwise distances in blocks of up to its
            # working memory, 1 GiB by default: the scored sample's 10,000 x 10,000 floats
            # would take 800 MiB at once.
            with sklearn.config_context(working_memory=SILHOUETTE_WORKING_MIB):
                candidates.append((float(silhouette_score(scored, labels)), model))
    if not candidates:
        return None
    best = max(score for score, _ in candidates)
    good_enough = best - abs(best) * policy.silhouette_tolerance
    score, model = [(s, m) for s, m in candidates if s >= good_enough][-1]
    refined = KMeans(
        n_clusters=model.n_clusters, init=model.cluster_centers_, n_init=1, random_state=policy.seed
    ).fit(fitted)
    return Centres(refined.cluster_centers_, score)


class StreamedRefinement:
    """One pass of mini-batch k-means over the base, a chunk per step, from given centres."""

    def __init__(self, start: Centres, policy: ClusteringPolicy) -> None:
        self._start = start
        self._model = MiniBatchKMeans(
            n_clusters=start.k, init=start.points, n_init=1, random_state=policy.seed
        )
        self._started = False

    def learn(self, scaled: Floats) -> None:
        # The first step needs at least k rows; a smaller first chunk is left out (the
        # sampled centres already stand for it).
        if self._started or len(scaled) >= self._start.k:
            self._model.partial_fit(scaled)
            self._started = True

    def centres(self) -> Centres:
        if not self._started:
            return self._start
        return Centres(self._model.cluster_centers_, self._start.silhouette)
