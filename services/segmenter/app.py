"""Composition root of the segmenter."""

from services.segmenter.api import http_app
from services.segmenter.domain import SegmentationPolicy
from services.segmenter.engines.llm import SegmentNamer
from services.segmenter.handlers import register
from services.segmenter.repository import (
    Audiences,
    Customers,
    Outcomes,
    Segmentations,
    SegmenterTransaction,
)
from services.segmenter.settings import SegmenterSettings
from shared.ai.decisions import DecisionLog
from shared.ai.settings import configured_model
from shared.api_keys.keyring import reporting_reads
from shared.runtime import Infrastructure, Service

NAME = "segmenter"


def segmentation_policy(settings: SegmenterSettings) -> SegmentationPolicy:
    return SegmentationPolicy(
        at_risk_after_days=settings.segmenter_at_risk_after_days,
        engaged_within_days=settings.segmenter_engaged_within_days,
        min_customers_for_clustering=settings.segmenter_min_customers_for_clustering,
    )


def build(settings: SegmenterSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    customers = Customers(infra.db, batch_size=settings.segmenter_read_batch_size)
    segmentations = Segmentations(infra.db)
    audiences = Audiences(infra.db)
    outcomes = Outcomes(infra.db)
    decisions = DecisionLog(infra.db)
    namer = SegmentNamer(
        configured_model(NAME, settings.segmenter_engine, settings),
        settings.price_table(),
        budget_seconds=settings.ai_timeout_seconds,
    )
    uow = infra.uow.bound(SegmenterTransaction)
    register(
        infra,
        uow,
        customers,
        segmentations,
        audiences,
        outcomes,
        segmentation_policy(settings),
        namer,
    )
    infra.finish()
    return Service(
        infra=infra,
        http_app=http_app(infra, customers, decisions, reporting_reads(settings)),
        http_port=settings.segmenter_health_port,
        on_startup=[decisions.ensure_indexes, customers.ensure_indexes, audiences.ensure_indexes],
    )
