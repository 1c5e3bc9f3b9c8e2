"""Anthropic through the official SDK: output constrained by a forced tool call.

The tool's ``input_schema`` is the output model's JSON schema and ``tool_choice`` forces
that tool, so the answer arrives as the tool's input and is validated by the same pydantic
model. The system prompt is one block marked for prompt caching. The SDK itself retries
transport errors and 5xx at most twice.
"""

from __future__ import annotations

import time

from anthropic import AsyncAnthropic
from anthropic.types import ToolUseBlock
from pydantic import BaseModel, ValidationError

from shared.ai.provider import Completion, InvalidOutputError, Prompt, Usage

MAX_TRANSPORT_RETRIES = 2
MAX_OUTPUT_TOKENS = 4096
TOOL_NAME = "record_answer"


class AnthropicModel:
    def __init__(
        self, *, api_key: str, model: str, base_url: str | None, timeout_seconds: float
    ) -> None:
        self._model = model
        self._client = AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout_seconds,
            max_retries=MAX_TRANSPORT_RETRIES,
        )

    @property
    def engine(self) -> str:
        return f"anthropic:{self._model}"

    async def complete[M: BaseModel](self, prompt: Prompt, output: type[M]) -> Completion[M]:
        started = time.perf_counter()
        message = await self._client.messages.create(
            model=self._model,
            max_tokens=MAX_OUTPUT_TOKENS,
            system=[
                {"type": "text", "text": prompt.system, "cache_control": {"type": "ephemeral"}}
            ],
            messages=[{"role": "user", "content": prompt.user}],
            tools=[
                {
                    "name": TOOL_NAME,
                    "description": f"Record the answer as a {output.__name__}.",
                    "input_schema": output.model_json_schema(),
                }
            ],
            tool_choice={"type": "tool", "name": TOOL_NAME},
        )
        usage = Usage(message.usage.input_tokens, message.usage.output_tokens)
        calls = [b for b in message.content if isinstance(b, ToolUseBlock)]
        if not calls:
            raise InvalidOutputError(
                f"no {TOOL_NAME} tool call in the answer", message.model, usage
            )
        try:
            parsed = output.model_validate(calls[0].input)
        except ValidationError as error:
            raise InvalidOutputError(str(error), message.model, usage) from None
        return Completion(parsed, message.model, usage, time.perf_counter() - started)
