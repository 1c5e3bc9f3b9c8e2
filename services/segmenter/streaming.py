"""Segmentation of a base read a chunk at a time, in memory that does not grow with it.

The base is read in passes, each a fold over the same chunks (``segmentation_passes``):

1. survey: count the customers, learn the scaling (``StandardScaler.partial_fit``), keep
   the id-hash sample and the id filter; a base below ``min_customers_for_clustering`` is
   kept whole, and the rules segment it;
2. refine: one pass of mini-batch k-means, when the base is larger than the fitting sample;
3. name: each cluster's traits, hence its segment id and name;
4. assign (``SegmentAssigner``, driven by the caller): each chunk's segment ids, to be
   written and published, while the segments' figures are counted from those same labels.

The passes read whatever a source gives: the database a cursor batch at a time, or
generated chunks. Each pass asks the source for a new iteration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Mapping
from typing import Protocol

import numpy as np

from services.segmenter.clustering import Centres, StreamedRefinement, sampled_centres
from services.segmenter.conversion import Outcome, posterior
from services.segmenter.domain import (
    Segmentation,
    SegmentationPolicy,
    classify_by_rules,
    display_order,
    spend_medians,
)
from services.segmenter.features import (
    FEATURES,
    CustomerColumns,
    FeatureScaling,
    Strings,
    raw_features,
)
from services.segmenter.id_filter import CustomerIdFilter
from services.segmenter.sampling import BaseSample, customer_hashes
from services.segmenter.segment_stats import Labels, SegmentStats
from services.segmenter.traits import SEGMENT_NAMES, SEGMENT_ORDER, Thresholds, name_segments
from shared.events.campaigns import ConversionInterval, Segment

type ChunkSource = Callable[[], AsyncIterator[CustomerColumns]]
type Classifier = Callable[[CustomerColumns], Labels]


class Pass(Protocol):
    def add(self, chunk: CustomerColumns) -> None: ...


class BaseSurvey:
    def __init__(self, policy: SegmentationPolicy) -> None:
        self.scaling = FeatureScaling()
        self.sample = BaseSample(policy.clustering.fit_sample, len(FEATURES))
        self.customer_ids = CustomerIdFilter()
        self.customers = 0
        self._small_limit = policy.min_customers_for_clustering
        self._small: list[CustomerColumns] | None = []

    def add(self, chunk: CustomerColumns) -> None:
        raw, hashes = raw_features(chunk), customer_hashes(chunk.customer_ids)
        self.scaling.learn(raw)
        self.sample.offer(hashes, chunk.customer_ids, raw)
        self.customer_ids.add(chunk.customer_ids, hashes)
        self.customers += len(chunk)
        if self._small is not None:
            self._small = [*self._small, chunk] if self.customers < self._small_limit else None

    def small_base(self) -> CustomerColumns | None:
        """The whole base, when it is too small to cluster."""
        return CustomerColumns.joined(self._small) if self._small is not None else None


class Refining:
    def __init__(self, scaling: FeatureScaling, refinement: StreamedRefinement) -> None:
        self._scaling = scaling
        self.refinement = refinement

    def add(self, chunk: CustomerColumns) -> None:
        self.refinement.learn(self._scaling.scaled(raw_features(chunk)))


class Tallying:
    def __init__(self, classify: Classifier, stats: SegmentStats) -> None:
        self._classify = classify
        self.stats = stats

    def add(self, chunk: CustomerColumns) -> None:
        self.stats.add(chunk, self._classify(chunk))


class SegmentAssigner:
    """The fitted segmentation: each chunk's segment ids, and the segments they add up to."""

    def __init__(
        self,
        classify: Classifier,
        named: list[tuple[str, str]],
        customer_ids: CustomerIdFilter,
        policy: SegmentationPolicy,
    ) -> None:
        self._classify = classify
        self._named = named
        self._segment_ids = np.array([segment_id for segment_id, _ in named], dtype=object)
        self._stats = SegmentStats(len(named), policy.conversion)
        self._policy = policy
        self.customer_ids = customer_ids  # what a naming must not quote

    def assign(self, chunk: CustomerColumns) -> Strings:
        labels = self._classify(chunk)
        self._stats.add(chunk, labels)
        ids: Strings = self._segment_ids[labels]
        return ids

    def segmentation(self, history: Mapping[str, Outcome]) -> Segmentation:
        """The segments of every chunk assigned so far."""
        stats, segments = self._stats, []
        for group, (segment_id, name) in enumerate(self._named):
            if not stats.sizes[group]:
                continue
            prior = stats.conversion_prior(group)
            outcome = history.get(segment_id, Outcome())
            estimate = posterior(prior, self._policy.prior_strength, outcome)
            segments.append(
                Segment(
                    segment_id=segment_id,
                    name=name,
                    size=int(stats.sizes[group]),
                    predicted_conversion_rate=estimate.mean,
                    predicted_conversion_interval=ConversionInterval(
                        low=estimate.low, high=estimate.high
                    ),
                    email_reachable=stats.email_reachable(group),
                    description=stats.traits(group).description(),
                )
            )
        segments.sort(key=lambda segment: display_order(segment.segment_id))
        return Segmentation(
            total_customers=int(stats.sizes.sum()),
            segments=segments,
            engagement_by_hour=stats.engagement_by_hour(),
        )


def segmentation_passes(policy: SegmentationPolicy) -> Generator[Pass, None, SegmentAssigner]:
    """Yields each pass to be fed every chunk of the base; returns the assigner."""
    survey = BaseSurvey(policy)
    yield survey
    small = survey.small_base()
    if small is not None:
        medians = spend_medians(small)
        named = [(segment_id, SEGMENT_NAMES[segment_id]) for segment_id in SEGMENT_ORDER]
        return SegmentAssigner(
            lambda chunk: classify_by_rules(chunk, policy, medians),
            named,
            survey.customer_ids,
            policy,
        )
    clustering, scaled = policy.clustering, survey.scaling.scaled
    centres = sampled_centres(
        scaled(survey.sample.rows(clustering.score_sample)),
        scaled(survey.sample.rows(clustering.fit_sample)),
        clustering,
    )
    # None: every sampled customer alike, so one group.
    centres = centres or Centres(np.zeros((1, len(FEATURES))), 0.0)
    if survey.customers > clustering.fit_sample:
        refining = Refining(survey.scaling, StreamedRefinement(centres, clustering))
        yield refining
        centres = refining.refinement.centres()
    tallying = Tallying(
        _nearest(survey.scaling, centres), SegmentStats(centres.k, policy.conversion)
    )
    yield tallying
    stats = tallying.stats
    groups = [group for group in range(centres.k) if stats.sizes[group]]
    thresholds = Thresholds(
        policy.at_risk_after_days, policy.engaged_within_days, stats.high_spend_cents()
    )
    named = name_segments([stats.traits(group) for group in groups], thresholds)
    kept = centres.keeping(groups)
    return SegmentAssigner(_nearest(survey.scaling, kept), named, survey.customer_ids, policy)


def _nearest(scaling: FeatureScaling, centres: Centres) -> Classifier:
    return lambda chunk: centres.nearest(scaling.scaled(raw_features(chunk)))


async def fit_streamed(source: ChunkSource, policy: SegmentationPolicy) -> SegmentAssigner:
    """Runs every pass over ``source``; the caller runs the assignment pass."""
    passes = segmentation_passes(policy)
    step = next(passes)
    while True:
        async for chunk in source():
            step.add(chunk)
        try:
            step = next(passes)
        except StopIteration as done:
            assigner: SegmentAssigner = done.value
            return assigner
