"""A local HTTP server that plays OpenAI's and Anthropic's APIs, for the real SDKs to call.

Each test scripts the replies, in order: a structured answer (valid or not), an HTTP error
or a reply slower than the client's budget. A test whose calls come concurrently, in no
order it controls (several services at once), gives a responder instead: a function that
answers each request from what it asks, used whenever no scripted reply is queued. Every
request body is recorded, so tests can check what the SDKs sent: the model, the schema, and
that no personal data left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.infrastructure import free_port


@dataclass(frozen=True)
class Reply:
    """One scripted answer: ``answer`` is the structured output (a str is sent verbatim)."""

    answer: Any = None
    status: int = 200
    delay_seconds: float = 0.0
    input_tokens: int = 120
    output_tokens: int = 30


def answer(value: Any, **usage: int) -> Reply:
    return Reply(answer=value, **usage)


def http_error(status: int = 500) -> Reply:
    return Reply(status=status)


def slow(seconds: float, value: Any = None) -> Reply:
    return Reply(answer=value, delay_seconds=seconds)


# Given a request body, the structured answer (or a whole Reply) to give it.
type Responder = Callable[[dict[str, Any]], Any]


class FakeLlm:
    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[dict[str, Any]] = []
        self._script: deque[Reply] = deque()
        self._responder: Responder | None = None
        # What the responder raised, so a test can say why a call fell back offline.
        self.responder_errors: list[str] = []

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        """Start afresh: these replies, in order; no responder, no recorded requests."""
        self._script.clear()
        self._script.extend(replies)
        self._responder = None
        self.requests.clear()
        self.responder_errors.clear()

    def respond_with(self, responder: Responder) -> None:
        """Answer every request no scripted reply is left for with ``responder(body)``."""
        self._responder = responder

    def sent_text(self) -> str:
        """Everything the clients sent, as one string to search."""
        return json.dumps(list(self.requests))  # a snapshot: the server thread may append

    async def _next(self, request: Request) -> tuple[dict[str, Any], Reply | None]:
        body: dict[str, Any] = await request.json()
        self.requests.append(body)
        reply = self._script.popleft() if self._script else self._respond(body)
        if reply is not None and reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        return body, reply

    def _respond(self, body: dict[str, Any]) -> Reply | None:
        if self._responder is None:
            return None
        try:
            found = self._responder(body)
        except Exception as error:  # answered as a client error, which the SDKs do not retry
            self.responder_errors.append(f"{type(error).__name__}: {error}")
            return Reply(status=400)
        return found if isinstance(found, Reply) else Reply(answer=found)

    async def chat_completions(self, request: Request) -> JSONResponse:
        body, reply = await self._next(request)
        if reply is None or reply.status != 200:
            return _error(reply)
        content = reply.answer if isinstance(reply.answer, str) else json.dumps(reply.answer)
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": reply.input_tokens,
                    "completion_tokens": reply.output_tokens,
                    "total_tokens": reply.input_tokens + reply.output_tokens,
                },
            }
        )

    async def messages(self, request: Request) -> JSONResponse:
        body, reply = await self._next(request)
        if reply is None or reply.status != 200:
            return _error(reply)
        return JSONResponse(
            {
                "id": f"msg_{len(self.requests)}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [
                    {
                        "type": "tool_use",
                        "id": f"toolu_{len(self.requests)}",
                        "name": body["tools"][0]["name"],
                        "input": reply.answer,
                    }
                ],
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": reply.input_tokens,
                    "output_tokens": reply.output_tokens,
                },
            }
        )


def _error(reply: Reply | None) -> JSONResponse:
    if reply is None:  # not retried by the SDKs: an unscripted call fails loudly
        return JSONResponse({"error": {"message": "fake LLM: no reply scripted"}}, 418)
    # retry-after-ms keeps the SDKs' backoff short in tests; it does not change the count.
    return JSONResponse(
        {"error": {"type": "server_error", "message": "scripted failure"}},
        reply.status,
        headers={"retry-after-ms": "10"},
    )


@contextlib.contextmanager
def fake_llm_server() -> Iterator[FakeLlm]:
    fake = FakeLlm()
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", fake.chat_completions, methods=["POST"]),
            Route("/v1/messages", fake.messages, methods=["POST"]),
        ]
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=fake.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, name="fake-llm", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=5)
