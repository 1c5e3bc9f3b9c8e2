"""The email channel as the settings describe it: what every letter goes through on its way
out (written, signed when a DKIM key is set, paced, relayed)."""

from __future__ import annotations

from dataclasses import dataclass

from services.launcher.domain.tracking import TrackingKeys
from services.launcher.email.compose import EmailComposer
from services.launcher.email.dkim_signing import DkimSigner
from services.launcher.email.pace import SendPace
from services.launcher.email.smtp import RelayAddress, SmtpRelay
from services.launcher.settings import LauncherSettings


@dataclass(frozen=True)
class EmailChannel:
    composer: EmailComposer
    relay: SmtpRelay
    pace: SendPace
    signer: DkimSigner | None = None

    @classmethod
    def from_settings(cls, settings: LauncherSettings, keys: TrackingKeys) -> EmailChannel:
        """Refuses, at start-up, a sender without a domain, a relay URL without a host and
        a DKIM key that cannot sign (``ConfigurationError`` naming the variable)."""
        composer = EmailComposer(settings.launcher_sender, str(settings.launcher_public_url), keys)
        key_file = settings.launcher_dkim_key_file
        return cls(
            composer=composer,
            relay=SmtpRelay(
                RelayAddress.parse(settings.launcher_smtp_url),
                connections=settings.launcher_send_concurrency,
            ),
            pace=SendPace(settings.launcher_send_rate),
            signer=DkimSigner.from_key_file(
                key_file, settings.launcher_dkim_selector, composer.domain
            )
            if key_file
            else None,
        )
