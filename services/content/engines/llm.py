"""The LLM content engine: a model writes the pitches, the domain frames them.

The model is given the campaign's facts and its segments' aggregates (``CopyFacts``), never
a customer, and answers with a ``CopyDraft``: per segment, one pitch per reason to buy.
The pieces are framed from it exactly as from the offline library's pitches (channel
fields and limits, footer, tracking links, ``{first_name}``), so both engines give the same
shape. The framed pieces must pass the shared guardrails or the model is re-asked once with
the violations; after that, or when the model fails or is too slow, the offline library
writes and the content is labelled ``offline-fallback``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from services.content import domain
from services.content.copywriting import CopyDraft, CopyFacts, copy_facts, draft_violations
from services.content.templates import library_draft
from shared.ai.costs import PriceTable
from shared.ai.provider import Prompt, StructuredModel
from shared.ai.runner import AiStep, Decision, run_step
from shared.events.campaigns import (
    CampaignContentGenerated,
    CampaignPlanned,
    CampaignSegmented,
    Segment,
)
from shared.guardrails import (
    EMAIL_PREHEADER_LIMIT,
    EMAIL_SUBJECT_LIMIT,
    SOCIAL_BODY_LIMIT,
    WEB_HEADLINE_LIMIT,
)

STEP = "content"
TEMPLATE_VERSION = "content-pitches-v1"

# Stable across campaigns (only the configured banned claims fill it), so providers can
# cache it; the campaign's facts follow in the user message.
SYSTEM_PROMPT = f"""\
You write the copy of a marketing campaign. For each customer segment you write three
pitches, each giving a different reason to buy, so that an A/B/C test compares reasons
rather than wordings:
- value: why this product suits these people;
- urgency: the offer ends on the date given;
- social_proof: people like them chose it; qualitative only, no figures, ratings or
  reviews you were not given.

Each pitch has:
- headline: at most {WEB_HEADLINE_LIMIT} characters; the social and web headline, and the
  email subject once the product name is appended to it (subjects stop at
  {EMAIL_SUBJECT_LIMIT} characters);
- line: one or two sentences naming the product and its price as given, at most
  {SOCIAL_BODY_LIMIT} characters;
- preheader: the email preview text, at most {EMAIL_PREHEADER_LIMIT} characters;
- call_to_action: the button label, a few words.

Rules your answer must keep:
- write the product name, price and end date out as given; the only placeholder you may
  use is {{first_name}}, which becomes the recipient's first name;
- the greeting, the unsubscribe link, the postal address and all links are added for
  you: do not write them;
- never make any of these claims: {{banned_claims}};
- promise no results; invent no discounts, figures or facts beyond those given;
- speak to a segment as its description and strategy suggest; you are given groups,
  never individual customers;
- one entry per segment, with its segment_id exactly as given.

Should an answer be refused, each problem names a piece as <segment_id>-<channel>-<letter>,
where letter a is the value pitch, b the urgency pitch and c the social_proof pitch.

Answer only through the structured output (a CopyDraft)."""


def writing_prompt(facts: CopyFacts) -> Prompt:
    claims = ", ".join(f'"{claim}"' for claim in facts.banned_claims) or "(none configured)"
    campaign = facts.model_dump(mode="json", exclude={"banned_claims"})
    return Prompt(
        SYSTEM_PROMPT.replace("{banned_claims}", claims),
        f"Campaign facts:\n{json.dumps(campaign, indent=1, sort_keys=True)}",
        TEMPLATE_VERSION,
    )


def writing_step(
    facts: CopyFacts,
    planned: CampaignPlanned,
    segments: Sequence[Segment],
    sender: domain.Sender,
) -> AiStep[CopyFacts, CopyDraft]:
    def check(draft: CopyDraft) -> list[str]:
        framed = domain.compose(planned, segments, draft, sender)
        return draft_violations(facts, draft) + domain.violations(framed, sender)

    return AiStep(
        name=STEP,
        output=CopyDraft,
        template_version=TEMPLATE_VERSION,
        prompt=writing_prompt,
        offline=library_draft,
        check=check,
    )


class LlmWriter:
    """Writes with a model when one is configured; the offline library is its fallback."""

    def __init__(
        self,
        sender: domain.Sender,
        model: StructuredModel | None,
        prices: PriceTable,
        *,
        budget_seconds: float,
    ) -> None:
        self.sender = sender
        self._model = model
        self._prices = prices
        self._budget_seconds = budget_seconds

    async def write(
        self, planned: CampaignPlanned, segmented: CampaignSegmented
    ) -> tuple[CampaignContentGenerated, Decision[CopyDraft]]:
        """The campaign's content, labelled with its engine and cost, and the decision."""
        facts = copy_facts(planned, segmented, self.sender.banned_claims)
        decision = await run_step(
            writing_step(facts, planned, segmented.segments, self.sender),
            facts,
            model=self._model,
            prices=self._prices,
            budget_seconds=self._budget_seconds,
        )
        content = domain.compose(planned, segmented.segments, decision.output, self.sender)
        labelled = content.model_copy(update={"engine": decision.engine, "ai_cost": decision.cost})
        return labelled, decision
