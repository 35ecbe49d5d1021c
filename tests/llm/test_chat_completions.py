"""The decision-client's chat-completions path against a real model: its answer is advisory and every
way it fails is a hold with its reason code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from torghut_contracts.enums import Action
from torghut_decision_client.adapters.chat_client import ChatCompletionsClient
from torghut_decision_client.adapters.engine_config import EngineClientConfig
from torghut_decision_client.domain import reasons
from torghut_decision_client.domain.outcome import EngineAnswer, EngineFailure
from torghut_decision_engine.testing import decision_request
from torghut_embedded.asgi import serve
from torghut_embedded.local_model import MODEL_NAME, LocalModelServer

pytestmark = pytest.mark.llm


def client(server: LocalModelServer, **overrides: Any) -> ChatCompletionsClient:
    config = EngineClientConfig(base_url=server.base_url, read_timeout_s=overrides.pop("read_timeout_s", 120.0),
                                stall_timeout_s=overrides.pop("stall_timeout_s", 120.0),
                                deadline_s=overrides.pop("deadline_s", 180.0), max_reconnects=0)
    return ChatCompletionsClient(url=server.base_url + "/chat/completions", model=MODEL_NAME, config=config,
                                 **overrides)


async def test_with_the_answers_schema_the_model_answers_in_the_decisions_shape(local_model: LocalModelServer) -> None:
    chat = client(local_model, response_schema=True, max_tokens=400)
    try:
        outcome = await chat.decide(decision_request())
    finally:
        await chat.aclose()
    assert isinstance(outcome, EngineAnswer), outcome
    assert outcome.intent.action in set(Action) and 0 <= outcome.confidence <= 1
    assert outcome.provenance.transport == "chat-completions"


async def test_a_deadline_shorter_than_the_answer_is_a_hold_for_timeout(local_model: LocalModelServer) -> None:
    chat = client(local_model, response_schema=True, max_tokens=400, deadline_s=0.3)
    try:
        outcome = await chat.decide(decision_request())
    finally:
        await chat.aclose()
    assert isinstance(outcome, EngineFailure)
    assert outcome.reason_codes == (reasons.ENGINE_TIMEOUT,)


async def test_a_token_limit_that_cuts_the_answer_is_a_hold_for_a_malformed_answer(
        local_model: LocalModelServer) -> None:
    chat = client(local_model, response_schema=True, max_tokens=16)
    try:
        outcome = await chat.decide(decision_request())
    finally:
        await chat.aclose()
    assert isinstance(outcome, EngineFailure)
    assert outcome.reason_codes == (reasons.ENGINE_MALFORMED_FINAL,)


async def test_the_server_killed_mid_answer_is_a_hold(own_model: LocalModelServer) -> None:
    chat = client(own_model, response_schema=True, max_tokens=400)
    try:
        answering = asyncio.create_task(chat.decide(decision_request()))
        await asyncio.sleep(0.5)  # the request is in: the model is generating
        own_model.kill()
        outcome = await answering
    finally:
        await chat.aclose()
    assert isinstance(outcome, EngineFailure)
    assert set(outcome.reason_codes) <= {reasons.ENGINE_STREAM_TRUNCATED, reasons.ENGINE_UNAVAILABLE,
                                         reasons.ENGINE_ERROR}


class LimitIgnoringProxy:
    """The real model behind a proxy that drops ``max_tokens`` from every request: a server that ignores it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.http = httpx.AsyncClient(timeout=None)
        self.frames_relayed = 0
        self.relayed_done = False
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.complete, methods=["POST"])])

    async def complete(self, request: Request) -> StreamingResponse:
        body = await request.json()
        body.pop("max_tokens", None)
        upstream = await self.http.send(self.http.build_request("POST", self.upstream + "/chat/completions",
                                                                json=body), stream=True)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for line in upstream.aiter_lines():
                    self.frames_relayed += line.startswith("data:")
                    self.relayed_done |= line.strip() == "data: [DONE]"
                    yield (line + "\n").encode()
            finally:
                await upstream.aclose()
        return StreamingResponse(relay(), media_type="text/event-stream")


async def test_a_server_that_ignores_the_token_limit_is_cut_off_and_held(local_model: LocalModelServer) -> None:
    proxy = LimitIgnoringProxy(local_model.base_url)
    async with serve(proxy.app) as url:
        chat = client(local_model, response_schema=True, max_tokens=12)
        chat.url = url + "/v1/chat/completions"
        try:
            outcome = await chat.decide(decision_request())
        finally:
            await chat.aclose()
            await proxy.http.aclose()
    assert isinstance(outcome, EngineFailure)
    assert outcome.reason_codes == (reasons.ENGINE_ANSWER_OVERLONG,), outcome
    assert proxy.frames_relayed > 12, "the model answered past the limit the proxy hid from it"
    assert not proxy.relayed_done, "the client read on to the end of an overlong answer instead of cutting it"
