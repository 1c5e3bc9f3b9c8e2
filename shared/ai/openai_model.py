"""OpenAI through the official SDK: structured output parsed into the pydantic model.

``chat.completions.parse`` sends the model's strict JSON schema as ``response_format`` and
parses the answer; the SDK itself retries transport errors and 5xx at most twice.
"""

from __future__ import annotations

import time

from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from shared.ai.provider import Completion, InvalidOutputError, Prompt, Usage

MAX_TRANSPORT_RETRIES = 2


def _usage(completion: ChatCompletion) -> Usage:
    if completion.usage is None:
        return Usage()
    return Usage(completion.usage.prompt_tokens, completion.usage.completion_tokens)


class OpenAiModel:
    def __init__(
        self, *, api_key: str, model: str, base_url: str | None, timeout_seconds: float
    ) -> None:
        self._model = model
        self._client = AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout_seconds,
            max_retries=MAX_TRANSPORT_RETRIES,
        )

    @property
    def engine(self) -> str:
        return f"openai:{self._model}"

    async def complete[M: BaseModel](self, prompt: Prompt, output: type[M]) -> Completion[M]:
        started = time.perf_counter()
        raw = await self._client.chat.completions.with_raw_response.parse(
            model=self._model,
            messages=[
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            response_format=output,
        )
        # Parsed separately so a refused answer still reports the tokens it cost.
        unparsed = ChatCompletion.model_validate(raw.http_response.json())
        usage, model = _usage(unparsed), unparsed.model or self._model
        try:
            parsed = raw.parse().choices[0].message.parsed
        except ValidationError as error:
            raise InvalidOutputError(str(error), model, usage) from None
        if parsed is None:
            refusal = unparsed.choices[0].message.refusal if unparsed.choices else None
            raise InvalidOutputError(refusal or "the answer was empty", model, usage)
        return Completion(parsed, model, usage, time.perf_counter() - started)
