"""Tracking tokens: what a tracked link or unsubscribe URL says, signed so it cannot be forged.

A token is ``<key id>.<payload>.<signature>``: the payload is the compact JSON of what the
link stands for (click or unsubscribe; campaign, segment, channel, variant, recipient),
base64url without padding; the signature is HMAC-SHA256 over key id and payload under the
key the id names. ``LAUNCHER_TRACKING_KEYS`` is a keyring, ``"t2:<base64>,t1:<base64>"``:
the first key signs, every key verifies, so keys rotate by putting a new one first and
dropping the old one once the links it signed may expire. A token that fails any check is
``None``: the routes answer 404 and record nothing, and never say which check failed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from enum import StrEnum

from shared.events.common import Channel

_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
MIN_KEY_BYTES = 32


class KeyringError(ValueError):
    """The keyring setting is malformed; the message names the entry, never the key."""


class LinkKind(StrEnum):
    CLICK = "c"
    UNSUBSCRIBE = "u"


@dataclass(frozen=True)
class TrackedLink:
    """What one tracked link stands for. ``customer_id`` is None on an ad's landing link."""

    kind: LinkKind
    campaign_id: str
    segment_id: str
    channel: Channel
    variant_id: str
    customer_id: str | None


class TrackingKeys:
    """Signs with the first key, verifies with any."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyringError("needs at least one 'id:base64 key' entry")
        self._signing_id = keys[0][0]
        self._keys = dict(keys)

    @classmethod
    def parse(cls, setting: str) -> TrackingKeys:
        keys = []
        for position, entry in enumerate(setting.split(","), start=1):
            key_id, _, encoded = entry.strip().partition(":")
            if not _KEY_ID.fullmatch(key_id):
                raise KeyringError(f"entry {position}: the key id must be 1-32 of A-Z a-z 0-9 _ -")
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise KeyringError(f"entry {position} ({key_id}): not base64") from None
            if len(key) < MIN_KEY_BYTES:
                raise KeyringError(f"entry {position} ({key_id}): under {MIN_KEY_BYTES} bytes")
            keys.append((key_id, key))
        return cls(keys)

    def sign(self, link: TrackedLink) -> str:
        fields = [
            link.kind.value,
            link.campaign_id,
            link.segment_id,
            link.channel.value,
            link.variant_id,
            link.customer_id,
        ]
        payload = _encode(json.dumps(fields, separators=(",", ":")).encode())
        return f"{self._signing_id}.{payload}.{self._mac(self._signing_id, payload)}"

    def verify(self, token: str) -> TrackedLink | None:
        """The link a genuine token stands for; None for anything forged, altered or unknown."""
        key_id, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if key_id not in self._keys or not payload or not signature:
            return None
        if not hmac.compare_digest(self._mac(key_id, payload), signature):
            return None
        try:
            kind, campaign, segment, channel, variant, customer = json.loads(_decode(payload))
            return TrackedLink(
                LinkKind(kind), campaign, segment, Channel(channel), variant, customer
            )
        except (ValueError, TypeError):
            return None  # signed by us yet unreadable: a payload from an older format

    def _mac(self, key_id: str, payload: str) -> str:
        message = f"{key_id}.{payload}".encode()
        return _encode(hmac.new(self._keys[key_id], message, hashlib.sha256).digest())


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
