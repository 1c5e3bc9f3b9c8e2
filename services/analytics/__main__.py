from services.analytics.app import NAME, build
from services.analytics.settings import AnalyticsSettings
from shared.runtime import main

main(NAME, AnalyticsSettings, build)
