from services.segmenter.app import NAME, build
from services.segmenter.settings import SegmenterSettings
from shared.runtime import main

main(NAME, SegmenterSettings, build)
