from services.launcher.app import NAME, build
from services.launcher.settings import LauncherSettings
from shared.runtime import main

main(NAME, LauncherSettings, build)
