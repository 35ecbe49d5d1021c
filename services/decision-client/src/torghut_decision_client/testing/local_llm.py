"""A local OpenAI-compatible chat-completions server with scripted answers (tests only).

Serves ``POST /openai/v1/chat/completions`` (Jangar's path) and ``/v1/chat/completions``: a streaming
request gets ``data:`` chunks with the answer split into deltas, a usage chunk and ``[DONE]``; a
non-streaming one (what dspy.LM sends) gets one ``chat.completion``. Each request takes the next
scripted answer; knobs produce the failures a client must survive.
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


@dataclass
class Answer:
    content: str = ""
    status: int = 200
    error_frame: str | None = None
    """Send ``{"error": {"message": ...}}`` after the first delta."""
    omit_done: bool = False
    noise: bool = False
    """Interleave frames a parser must skip (non-JSON, a JSON list)."""


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
        ])

    def answer(self, *answers: Answer | str) -> None:
        self.answers.extend(a if isinstance(a, Answer) else Answer(a) for a in answers)

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.paths.append(request.url.path)
        answer = self.answers.pop(0) if self.answers else Answer(status=500, content="no scripted answer left")
        if answer.status != 200:
            return JSONResponse({"error": {"message": answer.content}}, status_code=answer.status)
        if body.get("stream"):
            return StreamingResponse(self._chunks(answer), media_type="text/event-stream")
        return JSONResponse({
            "id": "chatcmpl-local", "object": "chat.completion", "model": self.model, "created": 0,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": answer.content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        })

    async def _chunks(self, answer: Answer) -> AsyncIterator[bytes]:
        def frame(payload: Any) -> bytes:
            return f"data: {json.dumps(payload)}\n\n".encode()

        text = answer.content
        pieces = [text[i:i + self.chunk_size] for i in range(0, len(text), self.chunk_size)] or [""]
        yield b": keep-alive\n\n"
        for index, piece in enumerate(pieces):
            yield frame({"id": "chatcmpl-local-stream", "object": "chat.completion.chunk", "model": self.model,
                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            if answer.noise and index == 0:
                yield b"data: not json at all\n\n"
                yield b"data: [1, 2, 3]\n\n"
            if answer.error_frame is not None and index == 0:
                yield frame({"error": {"message": answer.error_frame, "code": "upstream_error"}})
                return
        yield frame({"id": "chatcmpl-local-stream", "object": "chat.completion.chunk", "model": self.model,
                     "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}})
        if not answer.omit_done:
            yield b"data: [DONE]\n\n"


def dspy_chat_answer(fields: Mapping[str, Any]) -> str:
    """An answer in dspy's ChatAdapter format (``[[ ## name ## ]]`` sections, then ``completed``)."""
    parts = []
    for name, value in fields.items():
        rendered = json.dumps(value) if isinstance(value, list | dict) else str(value)
        parts.append(f"[[ ## {name} ## ]]\n{rendered}")
    parts.append("[[ ## completed ## ]]")
    return "\n\n".join(parts)
