"""Run one AI step: the model within a time budget, re-asks, guardrails, offline fallback.

The SDKs retry transport errors and 5xx themselves (at most twice). Here: an answer that
fails validation is re-asked at most twice with the validation error, one that breaks the
guardrails is re-asked once with the violations listed; after that, or on any error or when
the budget runs out, the offline engine answers. The pipeline never waits longer than the
budget and never stops because a model is down.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from shared.ai.costs import PriceTable
from shared.ai.provider import InvalidOutputError, Prompt, StructuredModel, Usage

log = logging.getLogger(__name__)

MAX_REASKS = 2
MAX_GUARDRAIL_REASKS = 1


def no_guardrails(output: BaseModel) -> list[str]:
    return []


@dataclass(frozen=True)
class AiStep[I, M: BaseModel]:
    """One decision a service delegates: how to ask a model, and how to answer without one."""

    name: str
    output: type[M]
    template_version: str
    prompt: Callable[[I], Prompt]
    offline: Callable[[I], M]
    check: Callable[[M], list[str]] = no_guardrails


@dataclass(frozen=True)
class Decision[M: BaseModel]:
    output: M
    engine: str
    template_version: str
    input_hash: str
    violations: list[str] = field(default_factory=list)
    fallback_reason: str | None = None
    model: str | None = None  # the provider model tried, even when offline answered
    usage: Usage = field(default_factory=Usage)
    cost: Decimal = Decimal(0)
    latency_seconds: float = 0.0
    attempts: int = 0


def input_hash(inputs: object) -> str:
    """sha256 of the inputs' canonical JSON: equal inputs, equal hash, across runs."""
    canonical = json.dumps(
        to_jsonable_python(inputs), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class _Attempts:
    """What the model calls of one step have cost and found, whatever their outcome."""

    prices: PriceTable
    count: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: Decimal = Decimal(0)
    violations: list[str] = field(default_factory=list)

    def spent(self, model: str, usage: Usage) -> None:
        self.usage += usage
        self.cost += self.prices.cost(model, usage)


async def _ask[I, M: BaseModel](
    step: AiStep[I, M], prompt: Prompt, model: StructuredModel, attempts: _Attempts
) -> M:
    """The model's first acceptable answer; raises ``_RefusedError`` when re-asks run out."""
    reasks = guardrail_reasks = 0
    while True:
        attempts.count += 1
        try:
            completion = await model.complete(prompt, step.output)
        except InvalidOutputError as error:
            attempts.spent(error.model, error.usage)
            if reasks == MAX_REASKS:
                raise _RefusedError(
                    f"invalid output after {reasks} re-asks: {error.problem}"
                ) from None
            reasks += 1
            prompt = prompt.reask(f"It did not match the schema: {error.problem}")
            continue
        attempts.spent(completion.model, completion.usage)
        violations = step.check(completion.output)
        if not violations:
            return completion.output
        attempts.violations += violations
        if reasks == MAX_REASKS or guardrail_reasks == MAX_GUARDRAIL_REASKS:
            raise _RefusedError(f"guardrail violations: {'; '.join(violations)}")
        reasks += 1
        guardrail_reasks += 1
        prompt = prompt.reask("It broke these rules:\n- " + "\n- ".join(violations))


class _RefusedError(Exception):
    pass


async def run_step[I, M: BaseModel](
    step: AiStep[I, M],
    inputs: I,
    *,
    model: StructuredModel | None,
    prices: PriceTable,
    budget_seconds: float,
) -> Decision[M]:
    """The step's decision; with ``model`` None the offline engine answers directly."""
    started = time.perf_counter()
    digest = input_hash(inputs)
    if model is None:
        offline = step.offline(inputs)
        return Decision(
            offline,
            "offline",
            step.template_version,
            digest,
            violations=step.check(offline),
            latency_seconds=time.perf_counter() - started,
        )
    attempts = _Attempts(prices)
    try:
        async with asyncio.timeout(budget_seconds):
            output = await _ask(step, step.prompt(inputs), model, attempts)
        reason = None
    except TimeoutError:
        reason = f"no acceptable answer within the {budget_seconds:g}s budget"
    except _RefusedError as refused:
        reason = str(refused)
    except Exception as error:  # any provider failure: the pipeline carries on offline
        reason = f"{type(error).__name__}: {error}"
    if reason is None:
        engine = model.engine
    else:
        log.warning("%s: %s answered offline: %s", step.name, model.engine, reason)
        output, engine = step.offline(inputs), "offline-fallback"
        attempts.violations += step.check(output)
    return Decision(
        output,
        engine,
        step.template_version,
        digest,
        violations=attempts.violations,
        fallback_reason=reason,
        model=model.engine.partition(":")[2],
        usage=attempts.usage,
        cost=attempts.cost,
        latency_seconds=time.perf_counter() - started,
        attempts=attempts.count,
    )
