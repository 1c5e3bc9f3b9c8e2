"""An API key, the scopes it opens, and the keys file that holds keys hashed.

A key is 32 random bytes, URL-safe base64 (``new_key``). Only its SHA-256 is ever stored:
whoever reads the keys file can check a key but not recover one. A plain hash suffices
because keys are random and long; a slow password hash guards guessable secrets, and would
cost every request its time.

The keys file holds one key a line, a name, its scopes (comma-separated) and its hash:

    # name           scopes                        hash of the key
    reporting-board  reports:read                  sha256:9f86d081884c7d65...
    shop-backend     payments:write,payments:read  sha256:60303ae22b998861...

Blank lines and ``#`` comments are skipped. Names (letters, digits, ``.``, ``_``, ``-``,
``@``) are what logs show. Any number of lines may be valid at once: a key is rotated by
adding the new line, moving its clients, then deleting the old line.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from shared.settings import ConfigurationError

HASH_PREFIX = "sha256:"
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_HASH = re.compile(rf"^{HASH_PREFIX}[0-9a-f]{{64}}$")


class Scope(StrEnum):
    PAYMENTS_WRITE = "payments:write"  # take payments, review held ones
    PAYMENTS_READ = "payments:read"  # list and read payments
    REFUNDS_WRITE = "refunds:write"  # refund payments
    REPORTS_READ = "reports:read"  # analytics reports, decision logs, the customer count
    EVENTS_WRITE = "events:write"  # emit campaign.performance on demand


ALL_SCOPES = frozenset(Scope)


class KeysFileError(ConfigurationError):
    """A keys file, or a line meant for one, that does not say what it must."""


@dataclass(frozen=True)
class ApiKey:
    """A key as a service knows it: its name, its scopes and its hash, never the key."""

    name: str
    scopes: frozenset[Scope]
    digest: bytes

    @classmethod
    def of(cls, name: str, key: str, scopes: Iterable[Scope]) -> ApiKey:
        """A key held in a setting (``PAYMENT_API_KEY``): hashed as soon as it is read."""
        return cls(name, frozenset(scopes), key_digest(key))


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return secrets.token_urlsafe(32)


def parse_scopes(text: str) -> frozenset[Scope]:
    """``"payments:read,refunds:write"`` -> scopes; raises ``KeysFileError`` naming an
    unknown one."""
    found = set()
    for word in text.split(","):
        try:
            found.add(Scope(word.strip()))
        except ValueError:
            known = ", ".join(Scope)
            raise KeysFileError(f"unknown scope {word.strip()!r}; scopes are {known}") from None
    return frozenset(found)


def checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise KeysFileError("a key's name is 1-64 letters, digits, '.', '_', '-' or '@'")
    return name


def keys_file_line(name: str, scopes: Iterable[Scope], key: str) -> str:
    """The line that makes ``key`` valid with ``scopes``; it holds the key's hash only."""
    listed = ",".join(sorted(set(scopes)))
    return f"{checked_name(name)} {listed} {HASH_PREFIX}{key_digest(key).hex()}"


def parse_keys_file(text: str) -> list[ApiKey]:
    """The keys a file lists; raises ``KeysFileError`` naming the first bad line. Messages
    never repeat a line's hash."""
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].split()
        if not content:
            continue
        try:
            keys.append(_parsed_line(content))
        except KeysFileError as error:
            raise KeysFileError(f"line {number}: {error}") from None
    return keys


def _parsed_line(content: list[str]) -> ApiKey:
    if len(content) != 3:
        raise KeysFileError("expected '<name> <scope>[,<scope>...] sha256:<hash>'")
    name, scopes, digest = content
    if not _HASH.match(digest):
        raise KeysFileError(f"the hash must be {HASH_PREFIX} and 64 lower-case hex digits")
    hashed = bytes.fromhex(digest.removeprefix(HASH_PREFIX))
    return ApiKey(checked_name(name), parse_scopes(scopes), hashed)
