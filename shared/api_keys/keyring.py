"""Which keys a service accepts, and the check every protected route makes.

A service accepts its own all-scopes key from its settings (``PAYMENT_API_KEY``,
``ANALYTICS_API_KEY``) and every key in ``API_KEYS_FILE``. The file is read at start-up and
again on the first request after it changes (its size, modification time or inode), so keys
rotate without a restart. Replace it by renaming a new file over it: a reader then never sees
half of one. A rewrite that does not parse keeps the keys read before, with an error logged,
so a typo locks nobody out; a file that does not exist holds no keys. One that does not
parse at start-up stops the service, naming the line.

A presented key is hashed and compared with every known hash by ``hmac.compare_digest``,
without stopping at a match: the time taken says nothing about which key matched, or how
much of one.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import SecretStr

from shared.api_keys.keys import (
    ALL_SCOPES,
    ApiKey,
    KeysFileError,
    Scope,
    key_digest,
    parse_keys_file,
)
from shared.settings import ReportingSettings

log = logging.getLogger(__name__)

type Signature = tuple[int, int, int, int] | None


class AccessDeniedError(Exception):
    """No key, a key we do not know (401), or a key without the route's scope (403)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bearer_token(authorization: str | None) -> str | None:
    """The key in ``Authorization: Bearer <key>``; None for any other header or none."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class KeysFile:
    """``API_KEYS_FILE``'s keys, read again whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._signature: Signature = self._current_signature()
        try:
            self._keys = self._read() if self._signature is not None else ()
        except KeysFileError as error:
            raise KeysFileError(f"API_KEYS_FILE {path}: {error}") from None
        if self._signature is None:
            log.warning("API_KEYS_FILE %s does not exist: no keys from it until it does", path)

    def keys(self) -> tuple[ApiKey, ...]:
        signature = self._current_signature()
        if signature != self._signature:
            self._signature = signature
            self._reload()
        return self._keys

    def _reload(self) -> None:
        if self._signature is None:
            self._keys = ()
            log.warning("API_KEYS_FILE %s is gone: its keys are no longer valid", self._path)
            return
        try:
            self._keys = self._read()
        except (KeysFileError, OSError) as error:
            log.error("API_KEYS_FILE %s not reloaded, earlier keys stay: %s", self._path, error)
            return
        names = ", ".join(sorted({key.name for key in self._keys})) or "none"
        log.info("API_KEYS_FILE %s reloaded: %d keys (%s)", self._path, len(self._keys), names)

    def _read(self) -> tuple[ApiKey, ...]:
        return tuple(parse_keys_file(self._path.read_text()))

    def _current_signature(self) -> Signature:
        try:
            found = os.stat(self._path)
        except FileNotFoundError:
            return None
        return (found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


class ApiKeys:
    """The keys one service accepts: fixed ones from its settings, and the keys file's."""

    def __init__(self, fixed: Sequence[ApiKey], keys_file: Path | None = None) -> None:
        self._fixed = tuple(fixed)
        self._file = KeysFile(keys_file) if keys_file is not None else None

    @classmethod
    def with_service_key(
        cls,
        name: str,
        key: SecretStr,
        keys_file: Path | None,
        scopes: Iterable[Scope] = ALL_SCOPES,
    ) -> ApiKeys:
        return cls([ApiKey.of(name, key.get_secret_value(), scopes)], keys_file)

    def authorize(self, presented: str | None, scope: Scope) -> ApiKey:
        """The key, if it is known and holds ``scope``; else ``AccessDeniedError``."""
        key = self.authenticate(presented)
        if key is None:
            raise AccessDeniedError(
                401,
                f"send Authorization: Bearer <an API key with the {scope} scope>",
                {"WWW-Authenticate": "Bearer"},
            )
        if scope not in key.scopes:
            log.info("API key %r refused: it lacks the %s scope", key.name, scope)
            raise AccessDeniedError(403, f"this API key lacks the {scope} scope")
        return key

    def authenticate(self, presented: str | None) -> ApiKey | None:
        if not presented:
            return None
        digest = key_digest(presented)
        found = None
        for known in (*self._fixed, *(self._file.keys() if self._file else ())):
            if hmac.compare_digest(digest, known.digest) and found is None:
                found = known
        return found


def reporting_reads(settings: ReportingSettings) -> ApiKeys:
    """The keys that open a service's reporting reads: ``ANALYTICS_API_KEY`` (for
    ``reports:read`` only, here) and the keys file's."""
    return ApiKeys.with_service_key(
        "ANALYTICS_API_KEY",
        settings.analytics_api_key,
        settings.api_keys_file,
        scopes=[Scope.REPORTS_READ],
    )
