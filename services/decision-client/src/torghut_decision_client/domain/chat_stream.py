"""Assembling an OpenAI-compatible chat-completions stream (upstream 6.1's parser rules).

Each SSE ``data:`` payload is fed in order: ``[DONE]`` ends the stream; a payload that is not a
JSON object is skipped (upstream tolerated keep-alive noise); a payload with a top-level ``error``
raises; ``choices[].delta.content`` and ``choices[].message.content`` are concatenated; the last
``usage`` wins. Only a stream that reached ``[DONE]`` is complete.

``content_frames`` counts the frames that carried content: every one holds at least one token, so
more of them than the token limit asked for proves the server ignores the limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"


class ChatStreamError(RuntimeError):
    """The stream carried an error frame."""


@dataclass
class ChatStreamAssembly:
    parts: list[str] = field(default_factory=list)
    usage: dict[str, int] | None = None
    completion_id: str | None = None
    model: str | None = None
    done: bool = False
    frames: int = 0
    content_frames: int = 0

    def feed(self, data: str) -> None:
        payload = data.strip()
        if not payload:
            return
        if payload == DONE:
            self.done = True
            return
        try:
            frame = json.loads(payload)
        except ValueError:
            return
        if not isinstance(frame, dict):
            return
        self.frames += 1
        if frame.get("error"):
            raise ChatStreamError(_error_message(frame["error"]))
        if isinstance(frame.get("id"), str):
            self.completion_id = frame["id"]
        if isinstance(frame.get("model"), str):
            self.model = frame["model"]
        usage = frame.get("usage")
        if isinstance(usage, dict):
            self.usage = {k: int(v) for k, v in usage.items()
                          if k in ("prompt_tokens", "completion_tokens", "total_tokens") and isinstance(v, int)}
        for choice in frame.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            for holder in ("delta", "message"):
                part = choice.get(holder)
                if isinstance(part, dict) and isinstance(part.get("content"), str) and part["content"]:
                    self.parts.append(part["content"])
                    self.content_frames += 1

    def completion_tokens_over(self, limit: int) -> int | None:
        """How many tokens the answer took, when that is provably more than ``limit``."""
        counted = self.usage.get("completion_tokens", 0) if self.usage else 0
        taken = max(counted, self.content_frames)
        return taken if taken > limit else None

    @property
    def content(self) -> str:
        return "".join(self.parts).strip()


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error)
    return str(error)
