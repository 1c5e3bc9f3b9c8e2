from services.content.app import NAME, build
from services.content.settings import ContentSettings
from shared.runtime import main

main(NAME, ContentSettings, build)
