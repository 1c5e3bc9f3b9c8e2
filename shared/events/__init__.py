"""Event contracts, one module per bounded context; topic names in ``topics``."""

from shared.events.envelope import CloudEvent

__all__ = ["CloudEvent"]
