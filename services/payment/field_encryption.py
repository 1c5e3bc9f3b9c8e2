"""Field-level encryption at rest: AES-256-GCM, with the key id stored beside each value.

``PAYMENT_DATA_KEY`` is a keyring, ``"k2:<base64 key>,k1:<base64 key>"``: the first key
encrypts, every key decrypts, so keys rotate by putting a new one first and dropping an old
one once nothing written under it is kept. Each value gets a fresh 96-bit nonce, and a
context (the record and the field) as associated data: a ciphertext moved to another record
or field fails to decrypt. Errors name key ids, never key material.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class KeyringError(ValueError):
    """The keyring setting is malformed; the message names the entry, not the key."""


class DecryptionError(Exception):
    """A value that cannot be decrypted: unknown key id, tampered, or the wrong context."""


def generate_key() -> str:
    """A fresh key, base64, for a keyring entry."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


@dataclass(frozen=True)
class Keyring:
    active: str
    keys: Mapping[str, AESGCM]

    @classmethod
    def parse(cls, setting: str) -> Keyring:
        keys: dict[str, AESGCM] = {}
        entries = [entry.strip() for entry in setting.split(",") if entry.strip()]
        if not entries:
            raise KeyringError("needs at least one 'id:base64-key' entry")
        for position, entry in enumerate(entries, start=1):
            key_id, separator, encoded = entry.partition(":")
            if not separator or not _KEY_ID.match(key_id):
                raise KeyringError(f"entry {position} needs the form 'id:base64-key'")
            if key_id in keys:
                raise KeyringError(f"key id {key_id!r} appears twice")
            try:
                raw = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise KeyringError(f"key {key_id!r} is not valid base64") from None
            if len(raw) != KEY_BYTES:
                raise KeyringError(f"key {key_id!r} must be {KEY_BYTES} bytes, not {len(raw)}")
            keys[key_id] = AESGCM(raw)
        return cls(active=entries[0].partition(":")[0], keys=keys)

    def describe(self) -> str:
        """Safe to log: the key ids, the active one first."""
        return ", ".join([self.active, *(k for k in self.keys if k != self.active)])


def seal(keyring: Keyring, plaintext: str, *, context: str) -> dict[str, Any]:
    """The stored form: ``{"key_id", "nonce", "ciphertext"}`` (bytes are BSON binary)."""
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = keyring.keys[keyring.active].encrypt(nonce, plaintext.encode(), context.encode())
    return {"key_id": keyring.active, "nonce": nonce, "ciphertext": ciphertext}


def unseal(keyring: Keyring, sealed: Mapping[str, Any], *, context: str) -> str:
    key = keyring.keys.get(sealed.get("key_id", ""))
    if key is None:
        raise DecryptionError(f"no key {sealed.get('key_id')!r} in the keyring")
    try:
        plaintext = key.decrypt(
            bytes(sealed["nonce"]), bytes(sealed["ciphertext"]), context.encode()
        )
    except (InvalidTag, KeyError, TypeError):
        raise DecryptionError(
            f"value sealed under {sealed.get('key_id')!r} does not decrypt"
        ) from None
    return plaintext.decode()
