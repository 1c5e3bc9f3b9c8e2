"""The launcher's repositories bound to one transaction: ``async with uow as tx``."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.launcher.storage.briefs import LaunchBriefs
from services.launcher.storage.clicks import Clicks
from services.launcher.storage.customers import CustomerProjection
from services.launcher.storage.deliveries import Deliveries
from services.launcher.storage.launches import Launches
from services.launcher.storage.suppression import SuppressionList
from services.launcher.storage.waves import QueuedDeliveries, Waves
from shared.ai.decisions import DecisionLog
from shared.storage.mongo import Document
from shared.storage.unit_of_work import Transaction


class LauncherTransaction(Transaction):
    def __init__(
        self, db: AsyncDatabase[Document], session: AsyncClientSession, source: str
    ) -> None:
        super().__init__(db, session, source)
        self.briefs = LaunchBriefs(db, session)
        self.customers = CustomerProjection(db, session)
        self.launches = Launches(db, session)
        self.deliveries = Deliveries(db, session)
        self.suppression = SuppressionList(db, session)
        self.clicks = Clicks(db, session)
        self.waves = Waves(db, session)
        self.queued = QueuedDeliveries(db, session)
        self.decisions = DecisionLog(db, session)
