"""How a service authenticates to Kafka: TLS, SASL, or neither (the local stack).

One FastStream security object per service, built from its settings; the broker takes it as
it is, and the admin client that creates topics takes the same options through FastStream's
own translation (``faststream.kafka.security.parse_security``), so the two never disagree.
"""

from __future__ import annotations

import ssl
from typing import Any

from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.settings import ConfigurationError, KafkaClientSettings

SASL_MECHANISMS = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


def kafka_security(settings: KafkaClientSettings) -> BaseSecurity | None:
    """The security ``KAFKA_SECURITY_PROTOCOL`` and its companions describe; ``None`` for
    PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    tls = protocol.endswith("SSL")
    context = tls_context(settings) if tls else None
    if not protocol.startswith("SASL_"):
        return BaseSecurity(ssl_context=context, use_ssl=True)
    username, password = settings.kafka_sasl_username, settings.kafka_sasl_password
    if username is None or password is None:  # the settings refuse this already
        raise ConfigurationError(
            f"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: needed by {protocol}"
        )
    return SASL_MECHANISMS[settings.kafka_sasl_mechanism](
        username,
        password.get_secret_value(),
        ssl_context=context,
        use_ssl=tls,
    )


def tls_context(settings: KafkaClientSettings) -> ssl.SSLContext:
    """Certificates checked against ``KAFKA_SSL_CAFILE``, or the system's trust store."""
    cafile = settings.kafka_ssl_cafile
    try:
        return ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (OSError, ssl.SSLError) as error:
        raise ConfigurationError(f"KAFKA_SSL_CAFILE: cannot load {cafile}: {error}") from None


def cluster_options(settings: KafkaClientSettings) -> dict[str, Any]:
    """The cluster's address and security as keyword arguments of aiokafka's own clients
    (what ``campaignctl`` connects with)."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        **client_options(kafka_security(settings)),
    }


def client_options(security: BaseSecurity | None) -> dict[str, Any]:
    """``security`` as keyword arguments of aiokafka's own clients (the admin client)."""
    return parse_security(security)
