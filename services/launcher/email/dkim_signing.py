"""DKIM signatures (RFC 6376) on every email, when ``LAUNCHER_DKIM_KEY_FILE`` is set.

Gmail and Yahoo require bulk senders to authenticate their mail. The signature is
rsa-sha256 with relaxed/relaxed canonicalisation (what survives relays that refold headers
or trim trailing spaces), by the sender's domain, so it aligns with ``From`` for DMARC. It
covers the body and every header a receiver shows or acts on, the unsubscribe headers
included, so nobody on the way can swap the unsubscribe URL. Receivers find the public key
at ``<selector>._domainkey.<domain>``.
"""

from __future__ import annotations

from pathlib import Path

import dkim

from shared.settings import ConfigurationError

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"feedback-id",
    b"mime-version",
    b"content-type",
)
_PROBE = b"From: probe@example.com\r\nSubject: probe\r\n\r\nprobe\r\n"


class DkimSigner:
    def __init__(self, private_key: bytes, selector: str, domain: str) -> None:
        self._key = private_key
        self._selector = selector.encode()
        self._domain = domain.encode()

    @classmethod
    def from_key_file(cls, path: Path, selector: str, domain: str) -> DkimSigner:
        """The signer, refused at start-up (never at the first send) if the key cannot sign."""
        signer = cls(path.read_bytes(), selector, domain)
        try:
            signer.sign(_PROBE)
        except dkim.DKIMException:
            raise ConfigurationError(
                f"LAUNCHER_DKIM_KEY_FILE: {path} is not an RSA private key in PEM"
            ) from None
        return signer

    def sign(self, message: bytes) -> bytes:
        """``message`` with its ``DKIM-Signature`` header in front."""
        signature: bytes = dkim.sign(
            message,
            self._selector,
            self._domain,
            self._key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
        )
        return signature + message
