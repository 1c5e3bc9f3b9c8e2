from shared.runtime import main

from services.planner.app import NAME, build
from services.planner.settings import PlannerSettings

main(NAME, PlannerSettings, build)
