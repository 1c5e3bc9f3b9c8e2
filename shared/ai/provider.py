"""The one interface every language-model provider implements.

A ``Prompt`` is split so provider prompt caching applies: ``system`` is the stable prefix
(instructions, output schema, brand rules) and never varies between campaigns; ``user``
carries the variable part, campaign facts and segment aggregates only, never a customer's
personal data. The offline engine is not a provider: it is a plain function the service
passes to the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from pydantic import BaseModel


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    template_version: str

    def reask(self, feedback: str) -> Prompt:
        """The same prompt with the reason the last answer was refused appended to ``user``."""
        return replace(
            self,
            user=f"{self.user}\n\nYour previous answer was refused:\n{feedback}\n"
            "Answer again, fixing every point above.",
        )


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )


@dataclass(frozen=True)
class Completion[M: BaseModel]:
    output: M
    model: str
    usage: Usage
    latency_seconds: float


class InvalidOutputError(Exception):
    """The model answered, but not with a valid instance of the output model.

    Carries the tokens spent, which are paid for all the same, and the validation error,
    which goes back to the model in the re-ask.
    """

    def __init__(self, problem: str, model: str, usage: Usage) -> None:
        super().__init__(problem)
        self.problem = problem
        self.model = model
        self.usage = usage


class StructuredModel(Protocol):
    """A provider that answers a prompt with a validated instance of ``output``."""

    @property
    def engine(self) -> str:
        """``<provider>:<model>``, e.g. ``openai:gpt-4.1``: what each decision records."""
        ...

    async def complete[M: BaseModel](self, prompt: Prompt, output: type[M]) -> Completion[M]:
        """Raise ``InvalidOutputError`` when the answer does not validate."""
        ...
