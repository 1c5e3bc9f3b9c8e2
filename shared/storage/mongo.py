"""The MongoDB client every service uses: tz-aware datetimes and Decimal <-> Decimal128."""

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bson.codec_options import CodecOptions, TypeCodec, TypeRegistry
from bson.decimal128 import Decimal128
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError
from pymongo.monitoring import CommandListener

from shared.settings import ConfigurationError, without_url_passwords

type Document = dict[str, Any]


class DecimalCodec(TypeCodec):
    """Stores ``Decimal`` as BSON Decimal128 and reads it back as ``Decimal``: never a float."""

    python_type = Decimal
    bson_type = Decimal128

    def transform_python(self, value: Decimal) -> Decimal128:
        return Decimal128(value)

    def transform_bson(self, value: Decimal128) -> Decimal:
        return value.to_decimal()


CODEC_OPTIONS: CodecOptions[Document] = CodecOptions(
    tz_aware=True, type_registry=TypeRegistry([DecimalCodec()])
)


def connect(
    url: str,
    *,
    app_name: str,
    server_selection_timeout: float = 10.0,
    tls_ca_file: Path | None = None,
    event_listeners: Sequence[CommandListener] = (),
) -> AsyncMongoClient[Document]:
    """A client; it connects lazily, so building one never blocks or fails.

    ``server_selection_timeout`` (seconds) bounds how long an operation waits for a
    reachable server before it fails: the pace at which an outage shows. ``tls_ca_file``
    turns TLS on, checking the servers' certificates against that CA bundle.
    ``event_listeners`` hear every command the client sends (tests count round trips).
    """
    tls: dict[str, Any] = {"tls": True, "tlsCAFile": str(tls_ca_file)} if tls_ca_file else {}
    try:
        return AsyncMongoClient(
            url,
            appname=app_name,
            tz_aware=True,
            serverSelectionTimeoutMS=int(server_selection_timeout * 1000),
            event_listeners=list(event_listeners),
            **tls,
        )
    except (PyMongoError, ValueError) as error:  # parsed at once: a malformed URL
        reason = without_url_passwords(str(error))
        raise ConfigurationError(f"MONGODB_URL: not a connection string: {reason}") from None
    except OSError as error:  # the CA bundle is read at once too (ssl.SSLError is an OSError)
        variable = "MONGODB_TLS_CA_FILE" if tls_ca_file else "MONGODB_URL"
        raise ConfigurationError(f"{variable}: cannot load the CA bundle: {error}") from None


def service_database(
    client: AsyncMongoClient[Document], name: str, prefix: str = ""
) -> AsyncDatabase[Document]:
    """The database a service owns; ``prefix`` isolates test runs sharing one server."""
    return client.get_database(f"{prefix}{name}", codec_options=CODEC_OPTIONS)


def stored_now() -> datetime:
    """Now, at the precision BSON keeps (milliseconds), so that an answer, its events and
    the record read back later all carry the same timestamps."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


DUPLICATE_KEY = 11000


def is_duplicate_key(error: PyMongoError) -> bool:
    """A single write's or a bulk write's failure, every one of them a duplicate key."""
    if isinstance(error, BulkWriteError):
        failures = error.details.get("writeErrors", [])
        return bool(failures) and all(f.get("code") == DUPLICATE_KEY for f in failures)
    return isinstance(error, DuplicateKeyError)
