"""Field-level encryption at rest: AES-256-GCM, with the key id stored beside each value.

``PAYMENT_DATA_KEY`` is a keyring, ``"k2:<base64 key>,k1:<base64 key>"``: the first key
encrypts, every key decrypts, so keys rotate by putting a new one first and dropping an old
one once nothing written under it is kept.

Each value gets a fresh random 96-bit nonce, the size GCM is built for; random nonces stay
safe for about 2**32 values under one key, so rotate long before that. The caller's context
(the record and the field, ``"pay_1:ip_address"``) is authenticated as associated data but
not stored: the reader supplies the context of where it found the value, so a ciphertext
copied to another record or field fails to decrypt.

The stored form is a ``SealedValue`` subdocument whose nonce and ciphertext (GCM tag
appended) are raw ``bytes``, which MongoDB keeps as BSON binary. Errors and reprs name key
ids and entry positions, never key material.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
# Shorter than any base64 32-byte key (43+ characters), so a key pasted where the id
# belongs is refused as an id and never echoed in a message.
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


class KeyringError(ValueError):
    """The keyring setting is malformed; the message names the entry, not the key."""


class DecryptionError(Exception):
    """A value that cannot be decrypted: tampered, malformed, or read with the wrong context."""


class UnknownKeyIdError(DecryptionError):
    """A value sealed under a key id the keyring no longer (or never) held."""


class SealedValue(TypedDict):
    """The stored form of one encrypted value."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


def generate_key() -> str:
    """A fresh key, base64, for a keyring entry."""
    return base64.b64encode(AESGCM.generate_key(bit_length=KEY_BYTES * 8)).decode()


@dataclass(frozen=True)
class Keyring:
    """The keys that decrypt, by id, and the id of the one that encrypts."""

    active: str
    keys: Mapping[str, AESGCM] = field(repr=False)

    @classmethod
    def parse(cls, setting: str) -> Keyring:
        """``"k2:<base64 key>,k1:<base64 key>"``; raises ``KeyringError`` naming the entry."""
        keys: dict[str, AESGCM] = {}
        entries = [entry.strip() for entry in setting.split(",") if entry.strip()]
        if not entries:
            raise KeyringError("needs at least one 'id:base64-key' entry")
        for position, entry in enumerate(entries, start=1):
            key_id, key = _parse_entry(position, entry)
            if key_id in keys:
                raise KeyringError(f"entry {position}: key id {key_id!r} appears twice")
            keys[key_id] = AESGCM(key)
        return cls(active=next(iter(keys)), keys=keys)

    def describe(self) -> str:
        """Safe to log: the key ids, the active one first."""
        return ", ".join(self.keys)


def _parse_entry(position: int, entry: str) -> tuple[str, bytes]:
    key_id, separator, encoded = entry.partition(":")
    if not separator or not _KEY_ID.fullmatch(key_id):
        raise KeyringError(
            f"entry {position} needs the form 'id:base64-key', the id 1-32 of A-Z a-z 0-9 _ -"
        )
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise KeyringError(f"entry {position}: key {key_id!r} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise KeyringError(
            f"entry {position}: key {key_id!r} must be {KEY_BYTES} bytes, not {len(key)}"
        )
    return key_id, key


def seal(keyring: Keyring, plaintext: str, *, context: str) -> SealedValue:
    """Encrypts ``plaintext`` under the active key, bound to ``context``."""
    if not context:
        raise ValueError("a context is required: it binds the value to its record and field")
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = keyring.keys[keyring.active].encrypt(nonce, plaintext.encode(), context.encode())
    return {"key_id": keyring.active, "nonce": nonce, "ciphertext": ciphertext}


def unseal(keyring: Keyring, sealed: Mapping[str, Any], *, context: str) -> str:
    """The plaintext of a stored ``SealedValue``, read back with the context it was sealed
    with; raises ``UnknownKeyIdError`` or ``DecryptionError``."""
    key_id = sealed.get("key_id")
    key = keyring.keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        raise UnknownKeyIdError(
            f"no key {key_id!r} in the keyring ({keyring.describe()}); a retired key must stay "
            "at the end of the setting while values sealed under it are kept"
        )
    try:
        plaintext = key.decrypt(
            bytes(sealed["nonce"]), bytes(sealed["ciphertext"]), context.encode()
        )
    except (InvalidTag, KeyError, TypeError, ValueError):
        raise DecryptionError(
            f"value sealed under {key_id!r} does not decrypt for {context!r}: "
            "tampered, or copied from another record or field"
        ) from None
    return plaintext.decode()
