from services.planner.app import NAME, build
from services.planner.settings import PlannerSettings
from shared.runtime import main

main(NAME, PlannerSettings, build)
