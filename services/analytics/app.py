"""Composition root of analytics."""

from services.analytics.api import build_api
from services.analytics.dashboard.assembly import build_dashboard
from services.analytics.engagement_handlers import register_engagement
from services.analytics.handlers import register
from services.analytics.journey_store import (
    AdSetsRepository,
    ClicksRepository,
    JourneysRepository,
)
from services.analytics.late_clicks import LateClicks
from services.analytics.optimisation_handlers import register_optimisation
from services.analytics.optimisation_store import (
    AdjustmentsRepository,
    EvaluationsRepository,
    ReallocationsRepository,
)
from services.analytics.optimiser import Optimiser
from services.analytics.parked_payments import ParkedPayments
from services.analytics.payment_store import PaymentsRepository, PaymentStarts
from services.analytics.performance import PerformanceReporter
from services.analytics.report import CampaignReports
from services.analytics.repository import AnalyticsTransaction, CampaignTotalsRepository
from services.analytics.settings import AnalyticsSettings
from shared.ai.decisions import DecisionLog
from shared.api_keys.keyring import ApiKeys
from shared.events.envelope import utc_now
from shared.runtime import Infrastructure, Service

NAME = "analytics"


def build(settings: AnalyticsSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    uow = infra.uow.bound(AnalyticsTransaction)
    policy = settings.attribution_policy
    register(infra, uow, policy, utc_now)
    register_engagement(infra, uow, policy, utc_now)
    register_optimisation(infra, uow)
    db = infra.db
    reporter = PerformanceReporter(
        uow, CampaignTotalsRepository(db), interval=settings.analytics_performance_interval_seconds
    )
    late_clicks = LateClicks(uow, ParkedPayments(db), policy, utc_now)
    reports = CampaignReports(uow, policy.lookback, settings.time_decay_half_life)
    optimiser = Optimiser(
        uow, db, settings.optimiser_policy, settings.optimiser_interval_seconds, utc_now
    )
    decisions = DecisionLog(db)
    infra.finish()

    async def ensure_indexes() -> None:
        await PaymentsRepository(db).ensure_indexes()
        await PaymentStarts(db).ensure_indexes()
        await ParkedPayments(db).ensure_indexes()
        await JourneysRepository(db).ensure_indexes()
        await ClicksRepository(db).ensure_indexes(policy.lookback)
        await AdSetsRepository(db).ensure_indexes()
        await EvaluationsRepository(db).ensure_indexes()
        await ReallocationsRepository(db).ensure_indexes()
        await AdjustmentsRepository(db).ensure_indexes()
        await decisions.ensure_indexes()

    keys = ApiKeys.with_service_key(
        "ANALYTICS_API_KEY", settings.analytics_api_key, settings.api_keys_file
    )
    http_app = build_api(infra, reports, reporter, optimiser, decisions, keys)
    # The live dashboard: its own routes on the same app, behind the same keys.
    dashboard = build_dashboard(settings, db, reports, keys)
    http_app.router.routes.extend(dashboard.routes)

    return Service(
        infra=infra,
        http_app=http_app,
        http_port=settings.analytics_api_port,
        on_startup=[ensure_indexes],
        background=[
            reporter.report_periodically,
            late_clicks.release_periodically,
            optimiser.evaluate_periodically,
            *dashboard.background,
        ],
    )
