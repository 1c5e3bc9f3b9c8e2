"""``python -m shared.messaging.create_topics``: create every topic before the services start.

The compose file runs this once, so six services starting together do not race to create
the same topics. Services still call ``ensure_topics`` at start-up; they find nothing missing.
Reads ``KAFKA_BOOTSTRAP_SERVERS``, ``KAFKA_TOPIC_PARTITIONS`` and
``KAFKA_TOPIC_REPLICATION_FACTOR`` like every service does. A topic the broker refuses ends
the command with one line naming it and Kafka's reason, and exit code 1.
"""

import asyncio
import logging

from shared.logs import configure_logging
from shared.messaging.broker import TopicCreationError, ensure_topics
from shared.messaging.security import kafka_security
from shared.settings import ServiceSettings, load_settings

log = logging.getLogger(__name__)


def create_topics() -> None:
    settings = load_settings(ServiceSettings)
    configure_logging("create-topics", settings.log_level, settings.log_format)
    try:
        created = asyncio.run(
            ensure_topics(
                settings.kafka_bootstrap_servers,
                partitions=settings.kafka_topic_partitions,
                replication_factor=settings.kafka_topic_replication_factor,
                security=kafka_security(settings),
            )
        )
    except TopicCreationError as refused:
        log.error("%s", refused)
        raise SystemExit(1) from None
    log.info(
        "created %d topic(s) on %s (%d partitions, replication factor %d): %s",
        len(created),
        settings.kafka_bootstrap_servers,
        settings.kafka_topic_partitions,
        settings.kafka_topic_replication_factor,
        ", ".join(created) or "none missing",
    )


if __name__ == "__main__":
    create_topics()
