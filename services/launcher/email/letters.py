"""Who of the due deliveries is sent what, judged as things stand at send time.

Targeting decided each delivery when the campaign launched; by the time it is due, the
customer may have unsubscribed, bounced, withdrawn consent or changed address. So the
suppression list, the customer projection and the content are read again for each batch,
and a delivery that may no longer be sent is skipped with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from services.launcher.domain.brief import LaunchBrief
from services.launcher.domain.deliveries import Delivery, SkipReason
from services.launcher.domain.recipients import Recipient
from services.launcher.email.outcomes import skipped
from services.launcher.storage.briefs import LaunchBriefs
from services.launcher.storage.customers import CustomerProjection
from services.launcher.storage.suppression import SuppressionList
from shared.events.campaigns import ContentPiece
from shared.storage.mongo import Document

log = logging.getLogger(__name__)

BRIEFS_KEPT = 64


@dataclass(frozen=True)
class Letter:
    """A delivery that may be sent: to whom, and which content."""

    delivery: Delivery
    recipient: Recipient
    piece: ContentPiece


class LetterDesk:
    """Turns due deliveries into letters and skips; keeps recent campaigns' content, which
    no longer changes once a campaign launched."""

    def __init__(self, db: AsyncDatabase[Document], customers: CustomerProjection) -> None:
        self._db = db
        self._customers = customers
        self._briefs: dict[str, LaunchBrief] = {}

    async def sort(
        self, due: Sequence[Delivery], now: datetime
    ) -> tuple[list[Letter], list[Delivery]]:
        customer_ids = [delivery.customer_id for delivery in due]
        suppressed = await SuppressionList(self._db).among(customer_ids)
        recipients = await self._customers.find(customer_ids)
        letters: list[Letter] = []
        skips: list[Delivery] = []
        for delivery in due:
            recipient = recipients.get(delivery.customer_id)
            match await self._letter(delivery, recipient, suppressed):
                case Letter() as letter:
                    letters.append(letter)
                case SkipReason() as reason:
                    skips.append(skipped(delivery, reason, now))
        return letters, skips

    async def _letter(
        self, delivery: Delivery, recipient: Recipient | None, suppressed: set[str]
    ) -> Letter | SkipReason:
        if delivery.customer_id in suppressed:
            return SkipReason.SUPPRESSED
        if recipient is None or not recipient.email:
            return SkipReason.NO_ADDRESS
        if not recipient.email_opt_in:
            return SkipReason.NO_CONSENT
        piece = await self._piece(delivery)
        if piece is None:
            log.error(
                "email: variant %s of campaign %s is not in its content; skipped",
                delivery.variant_id,
                delivery.campaign_id,
            )
            return SkipReason.NO_CONTENT
        return Letter(delivery, recipient, piece)

    async def _piece(self, delivery: Delivery) -> ContentPiece | None:
        brief = self._briefs.get(delivery.campaign_id)
        if brief is None:
            brief = await LaunchBriefs(self._db).get(delivery.campaign_id)
            if brief is None or brief.content is None:
                return None
            if len(self._briefs) >= BRIEFS_KEPT:
                self._briefs.clear()
            self._briefs[delivery.campaign_id] = brief
        return brief.piece(delivery.variant_id or "")
