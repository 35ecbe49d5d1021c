"""OpenAI-compatible chat-completions servers on loopback, standing in for an LM (tests, demos, benchmarks).

Two servers, both speaking the real protocol, so a client (``dspy.LM`` through litellm, an httpx
client) is exercised end to end over HTTP rather than mocked:

* :class:`LocalLlm`: **scripted**. Each request takes the next queued :class:`Answer`; knobs produce
  the failures a client must survive (HTTP errors, an error frame mid-stream, no ``[DONE]``, noise).
  Serves ``POST /openai/v1/chat/completions`` (Jangar's path) and ``/v1/chat/completions``,
  streaming (``data:`` chunks, a usage chunk, ``[DONE]``) or not (one ``chat.completion``).
* :class:`~torghut_embedded.rule_llm.RuleLlm` (its own module): **deterministic, from the request
  content**, for the trade-decision program.

Every response carries ``x-torghut-llm-standin: <kind>``, and ``GET /v1/models`` lists the model with
``owned_by: torghut-llm-standin``: a caller that needs a real LM (``dspy compile --optimizer mipro``)
can tell it is talking to a stand-in.

Serving (:mod:`torghut_embedded.asgi`): ``serve`` inside a running event loop (async tests),
``serve_in_thread`` from synchronous code (a uvicorn server on its own thread and loop), or, for
RuleLlm, as a process (``python -m torghut_embedded.rule_llm``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

STANDIN_OWNER = "torghut-llm-standin"
STANDIN_HEADER = "x-torghut-llm-standin"


def dspy_chat_answer(fields: Mapping[str, Any]) -> str:
    """An answer in dspy's ChatAdapter format (``[[ ## name ## ]]`` sections, then ``completed``)."""
    parts = []
    for name, value in fields.items():
        rendered = json.dumps(value) if isinstance(value, list | dict) else str(value)
        parts.append(f"[[ ## {name} ## ]]\n{rendered}")
    parts.append("[[ ## completed ## ]]")
    return "\n\n".join(parts)


def completion_body(model: str, content: str) -> dict[str, Any]:
    return {"id": "chatcmpl-local", "object": "chat.completion", "model": model, "created": 0,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}


# -- the scripted server --------------------------------------------------------------------------

@dataclass
class Answer:
    content: str = ""
    status: int = 200
    error_frame: str | None = None
    """Send ``{"error": {"message": ...}}`` after the first delta."""
    omit_done: bool = False
    noise: bool = False
    """Interleave frames a parser must skip (non-JSON, a JSON list)."""
    completion_tokens: int = 34
    """What the final ``usage`` frame says the answer took (the stand-in never honours ``max_tokens``)."""


@dataclass
class LocalLlm:
    answers: list[Answer] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[Mapping[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    chunk_size: int = 7
    model: str = "local-test-model"

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[
            Route("/openai/v1/chat/completions", self._complete, methods=["POST"]),
            Route("/v1/chat/completions", self._complete, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
        ])

    def answer(self, *answers: Answer | str) -> None:
        self.answers.extend(a if isinstance(a, Answer) else Answer(a) for a in answers)

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model",
                                                         "owned_by": STANDIN_OWNER}]})

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.paths.append(request.url.path)
        answer = self.answers.pop(0) if self.answers else Answer(status=500, content="no scripted answer left")
        marker = {STANDIN_HEADER: "scripted"}
        if answer.status != 200:
            return JSONResponse({"error": {"message": answer.content}}, status_code=answer.status, headers=marker)
        if body.get("stream"):
            return StreamingResponse(self._chunks(answer), media_type="text/event-stream", headers=marker)
        return JSONResponse(completion_body(self.model, answer.content), headers=marker)

    async def _chunks(self, answer: Answer) -> AsyncIterator[bytes]:
        async for chunk in completion_chunks(self.model, answer, self.chunk_size):
            yield chunk


async def completion_chunks(model: str, answer: Answer, chunk_size: int = 7) -> AsyncIterator[bytes]:
    """``answer`` as a streamed completion: ``data:`` chunks of ``chunk_size`` characters, usage, ``[DONE]``."""
    def frame(payload: Any) -> bytes:
        return f"data: {json.dumps(payload)}\n\n".encode()

    text = answer.content
    pieces = [text[i:i + chunk_size] for i in range(0, len(text), chunk_size)] or [""]
    yield b": keep-alive\n\n"
    for index, piece in enumerate(pieces):
        yield frame({"id": "chatcmpl-local-stream", "object": "chat.completion.chunk", "model": model,
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        if answer.noise and index == 0:
            yield b"data: not json at all\n\n"
            yield b"data: [1, 2, 3]\n\n"
        if answer.error_frame is not None and index == 0:
            yield frame({"error": {"message": answer.error_frame, "code": "upstream_error"}})
            return
    yield frame({"id": "chatcmpl-local-stream", "object": "chat.completion.chunk", "model": model,
                 "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": answer.completion_tokens,
                                          "total_tokens": 12 + answer.completion_tokens}})
    if not answer.omit_done:
        yield b"data: [DONE]\n\n"
