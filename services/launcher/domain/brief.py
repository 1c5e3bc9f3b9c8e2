"""What a launch needs, arriving in any order: the plan, the segments, every chunk of the
audience, and the content. The campaign launches once all of it is here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.events.campaigns import CampaignPlanned, CampaignSegmented, ContentPiece
from shared.events.common import Channel


@dataclass(frozen=True)
class LaunchBrief:
    campaign_id: str
    planned: CampaignPlanned | None = None
    segmented: CampaignSegmented | None = None
    content: Sequence[ContentPiece] | None = None
    audience_chunks: frozenset[int] = frozenset()
    audience_chunk_count: int | None = None

    @property
    def audience_complete(self) -> bool:
        count = self.audience_chunk_count
        return count is not None and self.audience_chunks >= frozenset(range(count))

    @property
    def complete(self) -> bool:
        return (
            self.planned is not None
            and self.segmented is not None
            and self.content is not None
            and self.audience_complete
        )

    def variants(self, segment_id: str, channel: Channel) -> list[ContentPiece]:
        """The content variants of one segment on one channel, in their order (a, b, c)."""
        return [
            piece
            for piece in self.content or ()
            if piece.segment_id == segment_id and piece.channel is channel
        ]

    def piece(self, variant_id: str) -> ContentPiece | None:
        return next((p for p in self.content or () if p.variant_id == variant_id), None)
