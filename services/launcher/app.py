"""Composition root of the launcher."""

from datetime import timedelta
from decimal import Decimal

from fastapi import FastAPI
from limits import RateLimitItemPerMinute

from services.launcher.ads.bid_control import BidControl
from services.launcher.ads.buying import AdBuyer
from services.launcher.ads.meta import MetaAds
from services.launcher.ads.rebudgeting import Rebudgeting
from services.launcher.ads.reports import AdReports
from services.launcher.api.tracking import tracking_router
from services.launcher.domain.bidding import TargetBidding
from services.launcher.domain.pacing import Pacing
from services.launcher.domain.targeting import TargetingRules
from services.launcher.domain.tracking import TrackingKeys
from services.launcher.domain.waves import WavePlan
from services.launcher.email.channel import EmailChannel
from services.launcher.email.dispatcher import EmailDispatcher
from services.launcher.handlers import register
from services.launcher.launching import LaunchDriver
from services.launcher.releasing import WaveReleaser
from services.launcher.settings import LauncherSettings
from services.launcher.storage.ad_sets import AdSets
from services.launcher.storage.customers import CustomerProjection
from services.launcher.storage.deliveries import Deliveries
from services.launcher.storage.launches import Launches
from services.launcher.storage.transaction import LauncherTransaction
from services.launcher.storage.waves import Waves
from shared.ai.decisions import DecisionLog, decision_routes
from shared.api_keys.fastapi_dependency import requires
from shared.api_keys.keyring import reporting_reads
from shared.api_keys.keys import Scope
from shared.http.client_ip import parse_trusted_proxies
from shared.money import minor_unit
from shared.runtime import Infrastructure, Service, health_routes

NAME = "launcher"


def build(settings: LauncherSettings) -> Service:
    infra = Infrastructure.build(NAME, settings)
    uow = infra.uow.bound(LauncherTransaction)
    customers = CustomerProjection(infra.db)
    platform = MetaAds(
        str(settings.launcher_ad_platform_url),
        settings.launcher_ad_platform_token.get_secret_value(),
        settings.launcher_ad_account_id,
        api_version=settings.launcher_ad_api_version,
        page_id=settings.launcher_ad_page_id,
        click_feed=settings.launcher_ad_click_feed,
    )
    ad_sets = AdSets(infra.db)
    buyer = AdBuyer(platform, ad_sets, settings.launcher_ad_bids)
    reports = AdReports(platform, uow, every_seconds=settings.launcher_ads_report_seconds)
    keys = TrackingKeys.parse(settings.launcher_tracking_keys.get_secret_value())
    dispatcher = EmailDispatcher(
        uow,
        customers,
        EmailChannel.from_settings(settings, keys),
        concurrency=settings.launcher_send_concurrency,
    )
    driver = LaunchDriver(
        uow,
        customers,
        TargetingRules(
            frequency_cap=settings.launcher_frequency_cap,
            holdout_share=settings.launcher_holdout_share,
            waves=WavePlan(settings.launcher_waves, settings.launcher_first_wave_share),
        ),
        buy_ads=buyer.buy,
        on_scheduled=dispatcher.wake,
    )
    waves = WaveReleaser(
        uow,
        timeout=timedelta(seconds=settings.launcher_wave_timeout_seconds),
        on_scheduled=dispatcher.wake,
    )
    bid_control = BidControl(
        platform,
        uow,
        bidding=lambda currency, max_bid: target_bidding(settings, currency, max_bid),
        pacing=Pacing(
            gain=settings.launcher_pacing_gain,
            thin_share=settings.launcher_pacing_thin_share,
            max_step=settings.launcher_bid_max_step,
        ),
        max_bids=settings.launcher_ad_max_bids,
    )
    register(
        infra,
        uow,
        launch_ready=driver.wake,
        waves=waves,
        bid_control=bid_control,
        rebudgeting=Rebudgeting(platform, uow, settings.launcher_ad_bids),
    )
    decisions = DecisionLog(infra.db)
    infra.finish()
    reads = reporting_reads(settings)
    api = FastAPI(
        title="Launcher",
        version="1",
        description="Public tracking routes: tracked clicks and unsubscribes, no API key. "
        "With a reports key: the customer count and the decision log (waves, bids, budgets).",
        routes=[*health_routes(infra), *decision_routes(decisions, reads)],
    )

    @api.get("/v1/customers/count", dependencies=[requires(reads, Scope.REPORTS_READ)])
    async def customer_count() -> dict[str, int]:
        """Customers the launcher can address: what an import waits on before a launch."""
        return {"customers": await customers.count()}

    api.include_router(
        tracking_router(
            uow,
            keys,
            RateLimitItemPerMinute(settings.launcher_tracking_rate_per_minute),
            parse_trusted_proxies(settings.launcher_trusted_proxies),
        )
    )
    return Service(
        infra=infra,
        http_app=api,
        http_port=settings.launcher_api_port,
        on_startup=[
            Deliveries(infra.db).ensure_indexes,
            Launches(infra.db).ensure_indexes,
            ad_sets.ensure_indexes,
            Waves(infra.db).ensure_indexes,
            decisions.ensure_indexes,
        ],
        background=[driver.run, dispatcher.run, reports.run, waves.run],
        on_shutdown=[platform.close],
    )


def target_bidding(settings: LauncherSettings, currency: str, max_bid: Decimal) -> TargetBidding:
    """The bid rules for one campaign's currency and one channel's maximum bid."""
    return TargetBidding(
        strategy=settings.launcher_bid_strategy,
        target_roas=settings.launcher_target_roas,
        target_cpa=settings.launcher_target_cpa,
        min_clicks=settings.launcher_bid_min_clicks,
        max_step=settings.launcher_bid_max_step,
        max_bid=max_bid,
        min_bid=minor_unit(currency),
    )
