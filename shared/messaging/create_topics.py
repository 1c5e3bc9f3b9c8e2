"""``python -m shared.messaging.create_topics``: create every topic before the services start.

The compose file runs this once, so six services starting together do not race to create
the same topics. Services still call ``ensure_topics`` at start-up; they find nothing missing.
Reads ``KAFKA_BOOTSTRAP_SERVERS`` and ``KAFKA_TOPIC_PARTITIONS`` like every service does.
"""

import asyncio
import logging

from shared.logs import configure_logging
from shared.messaging.broker import ensure_topics
from shared.settings import ServiceSettings, load_settings

log = logging.getLogger(__name__)


def create_topics() -> None:
    settings = load_settings(ServiceSettings)
    configure_logging("create-topics", settings.log_level, settings.log_format)
    created = asyncio.run(
        ensure_topics(settings.kafka_bootstrap_servers, partitions=settings.kafka_topic_partitions)
    )
    log.info(
        "created %d topic(s) on %s: %s",
        len(created),
        settings.kafka_bootstrap_servers,
        ", ".join(created) or "none missing",
    )


if __name__ == "__main__":
    create_topics()
