"""The ``chat-completions`` transport: Jangar's OpenAI-compatible endpoint, streamed.

The request is the decision request as a user message under a system prompt asking for one JSON
decision; the answer is assembled from the stream's deltas (``domain.chat_stream``) and parsed
strictly (``domain.llm_answer``). A connection failure is retried with backoff (no run exists on
the other side, so a retry has no side effect); everything else that goes wrong ends in a hold.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx
import structlog
from httpx_sse import aconnect_sse
from torghut_contracts.decision_engine import DecisionRequest

from ..domain import reasons
from ..domain.chat_stream import ChatStreamAssembly, ChatStreamError
from ..domain.jangar_url import chat_completions_url
from ..domain.llm_answer import ANSWER_SCHEMA, parse_llm_decision
from ..domain.outcome import EngineAnswer, EngineOutcome, Provenance, failure
from ..domain.prompt import PROMPT_VERSION, chat_messages
from ..settings import DecisionClientSettings
from .engine_client import EngineClientConfig

log = structlog.get_logger("torghut.decision_client.chat")

TRANSPORT = "chat-completions"
MODE = "llm"


class ChatCompletionsClient:
    name = TRANSPORT

    def __init__(self, *, url: str, model: str, config: EngineClientConfig, api_key: str | None = None,
                 temperature: float = 0.0, max_tokens: int = 800, http: httpx.AsyncClient | None = None,
                 extra_headers: Mapping[str, str] | None = None, response_schema: bool = False) -> None:
        self.url = url
        self.model = model
        self.config = config
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.response_format: dict[str, Any] = (
            {"type": "json_object", "schema": ANSWER_SCHEMA} if response_schema else {"type": "json_object"})
        self.headers = {"content-type": "application/json", "x-trade-execution": "torghut",
                        **dict(extra_headers or {})}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(
            connect=config.connect_timeout_s, read=config.read_timeout_s, write=config.connect_timeout_s,
            pool=config.connect_timeout_s))

    @classmethod
    def from_settings(cls, settings: DecisionClientSettings, **kwargs: Any) -> ChatCompletionsClient:
        assert settings.jangar_base_url is not None, "checked at start-up"
        key = settings.jangar_api_key.get_secret_value() if settings.jangar_api_key else None
        return cls(url=chat_completions_url(settings.jangar_base_url), model=settings.llm_model,
                   config=EngineClientConfig.from_settings(settings), api_key=key,
                   temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens,
                   response_schema=settings.llm_response_schema, **kwargs)

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    def body(self, request: DecisionRequest) -> dict[str, Any]:
        return {
            "model": self.model, "messages": chat_messages(request), "stream": True,
            "temperature": self.temperature, "max_tokens": self.max_tokens,
            "response_format": self.response_format,
            "stream_options": {"include_usage": True},
        }

    async def decide(self, request: DecisionRequest) -> EngineOutcome:
        started = time.monotonic()
        assembly = ChatStreamAssembly()

        def provenance() -> Provenance:
            return Provenance(transport=TRANSPORT, engine_version=assembly.model or self.model, mode=MODE,
                              program=PROMPT_VERSION, run_id=assembly.completion_id,
                              latency_ms=int((time.monotonic() - started) * 1000))

        loop = asyncio.get_running_loop()
        watchdog = asyncio.timeout(self.config.stall_timeout_s)
        try:
            async with asyncio.timeout(self.config.deadline_s):
                async with watchdog:
                    status = await self._stream(request, assembly, lambda: watchdog.reschedule(
                        loop.time() + self.config.stall_timeout_s))
        except TimeoutError:
            if watchdog.expired():
                return failure(reasons.ENGINE_STALLED,
                               f"no completion chunk for {self.config.stall_timeout_s:g}s", provenance())
            return failure(reasons.ENGINE_TIMEOUT, f"no complete answer within {self.config.deadline_s:g}s",
                           provenance())
        except ChatStreamError as exc:
            return failure(reasons.ENGINE_ERROR, f"the completion stream carried an error: {exc}", provenance())
        except _Unavailable as exc:
            return failure(reasons.ENGINE_UNAVAILABLE, str(exc), provenance())
        except _Refused as exc:
            return failure(reasons.ENGINE_REJECTED_REQUEST, str(exc), provenance())
        if (taken := assembly.completion_tokens_over(self.max_tokens)) is not None:
            return failure(reasons.ENGINE_ANSWER_OVERLONG, f"the answer took at least {taken} tokens against a "
                           f"limit of {self.max_tokens}: the server ignores max_tokens", provenance())
        if status is not None:
            return failure(reasons.ENGINE_ERROR, status, provenance())
        if not assembly.done:
            return failure(reasons.ENGINE_STREAM_TRUNCATED, "the completion stream ended before [DONE]",
                           provenance())
        try:
            answer = parse_llm_decision(assembly.content)
        except ValueError as exc:
            return failure(reasons.ENGINE_MALFORMED_FINAL, str(exc), provenance())
        return EngineAnswer(
            intent=answer.intent, confidence=answer.confidence, uncertainty_notes=tuple(answer.uncertainty_notes),
            size_recommendation=answer.size_recommendation, risk_flags=tuple(answer.risk_flags),
            reason_codes=tuple(answer.reason_codes), provenance=provenance(),
        )

    async def _stream(self, request: DecisionRequest, assembly: ChatStreamAssembly, progressed: Any) -> str | None:
        """Stream the completion into ``assembly``; returns a problem description for a non-SSE answer."""
        attempt = 0
        while True:
            try:
                async with aconnect_sse(self.http, "POST", self.url, json=self.body(request),
                                        headers=dict(self.headers)) as source:
                    response = source.response
                    if response.status_code >= 300:
                        body = (await response.aread()).decode("utf-8", "replace")[:500]
                        if response.status_code in (408, 429) or response.status_code >= 500:
                            raise _Retry(f"completion request failed ({response.status_code}): {body}")
                        raise _Refused(f"completion request failed ({response.status_code}): {body}")
                    content_type = response.headers.get("content-type", "")
                    if "text/event-stream" not in content_type:
                        return f"the completion answer is not an event stream ({content_type or 'no content-type'})"
                    async for sse in source.aiter_sse():
                        if not sse.data:
                            continue
                        assembly.feed(sse.data)
                        progressed()
                        if assembly.done or assembly.completion_tokens_over(self.max_tokens) is not None:
                            break  # an overlong answer is cut here: closing the stream stops the server's work
                    return None
            except (httpx.TransportError, _Retry) as exc:
                if assembly.frames:  # part of an answer arrived: a retry would mix two completions
                    return None
                attempt += 1
                if attempt > self.config.max_reconnects:
                    raise _Unavailable(f"{type(exc).__name__}: {exc}") from None
                delay = self.config.backoff(attempt)
                log.warning("completion request failed; retrying", attempt=attempt, delay_s=round(delay, 3),
                            error=repr(exc))
                await asyncio.sleep(delay)


class _Retry(Exception):
    pass


class _Refused(Exception):
    pass


class _Unavailable(Exception):
    pass
