"""The email dispatcher as a process of its own, run as the launcher runs it (a background
job of a service, with its outbox relay), for tests that kill it.

``python -m tests.support.email_dispatcher_process [--lease-seconds N]``; everything else
comes from the environment, as for the launcher (``LAUNCHER_SMTP_URL``, ``MONGODB_URL``...).
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from services.launcher.settings import LauncherSettings
from shared.runtime import Service, main
from tests.support.email_launch import email_service


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lease-seconds", type=float, default=None)
    args = parser.parse_args()
    lease = timedelta(seconds=args.lease_seconds) if args.lease_seconds else None

    def build(settings: LauncherSettings) -> Service:
        service, _ = email_service(settings, lease=lease)
        return service

    main("launcher", LauncherSettings, build)


if __name__ == "__main__":
    run()
