"""Shared fixtures: request builders, a running engine behind real uvicorn, a local OpenAI-compatible server."""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from torghut_contracts.decision_engine import DecisionRequest
from torghut_decision_engine.app import DecisionEngine, build
from torghut_decision_engine.settings import DecisionEngineSettings
from torghut_decision_engine.testing import REQUEST_BODY, serve
from torghut_decision_program.shipped import shipped_artifacts
from torghut_runtime.testing import test_settings

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
SHIPPED_HASH = next(iter(shipped_artifacts()))  # the reference compile of the trade-decision program



def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:  # None removes the key (the field takes its default, a feature disappears)
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


BodyFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def make_body() -> BodyFactory:
    """The seed-002 example request (trigger one second old), with nested overrides merged in."""

    def factory(now: datetime | None = None, **overrides: Any) -> dict[str, Any]:
        moment = now or datetime.now(UTC)
        body = _merge(REQUEST_BODY, {"trigger": {"event_ts": (moment - timedelta(seconds=1)).isoformat()}})
        return _merge(body, overrides)

    return factory


@pytest.fixture
def make_request(make_body: BodyFactory) -> Callable[..., DecisionRequest]:
    def factory(now: datetime | None = None, **overrides: Any) -> DecisionRequest:
        return DecisionRequest.model_validate(make_body(now, **overrides))

    return factory


EngineFactory = Callable[..., contextlib.AbstractAsyncContextManager[tuple[str, DecisionEngine]]]


@pytest.fixture
def engine_server(kafka_bootstrap: str, fresh_database_url: str) -> EngineFactory:
    """Start the engine (real Postgres, real broker, real uvicorn); several starts share one database."""

    @contextlib.asynccontextmanager
    async def start(lm: Any | None = None, **overrides: Any) -> AsyncIterator[tuple[str, DecisionEngine]]:
        values: dict[str, Any] = {"decision_engine_heartbeat_s": 0.05, "decision_engine_poll_interval_s": 0.05,
                                  "decision_engine_fault_injection": True, "decision_engine_lease_ttl_s": 3,
                                  "decision_engine_dspy_artifact_hash": SHIPPED_HASH}
        flag_settings = overrides.pop("flag_settings", None)
        values.update(overrides)
        settings = test_settings(DecisionEngineSettings, kafka_bootstrap=kafka_bootstrap,
                                 database_url=fresh_database_url, topic_prefix="", service_name="decision-engine",
                                 **values)
        engine = build(settings, lm=lm, configure_logs=False, flag_settings=flag_settings)
        async with serve(engine.runtime.asgi()) as base_url:
            yield base_url, engine

    return start


def chat_completion(content: str) -> dict[str, Any]:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}


def chat_adapter_answer(fields: dict[str, str]) -> str:
    """An answer in dspy's ChatAdapter format, as a well-behaved model writes it."""
    parts = [f"[[ ## {name} ## ]]\n{value}" for name, value in fields.items()]
    return "\n\n".join([*parts, "[[ ## completed ## ]]"])


class FakeLmServer:
    """A local OpenAI-compatible ``/v1/chat/completions`` endpoint that answers from a queue of replies."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, str]] = []
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []

    def reply(self, content: str, status: int = 200) -> None:
        self.replies.append((status, content))

    async def completions(self, request: Request) -> Response:
        self.requests.append(json.loads(await request.body()))
        self.authorizations.append(request.headers.get("authorization"))
        status, content = self.replies.pop(0) if self.replies else (200, "no scripted reply")
        if status != 200:
            return JSONResponse({"error": {"message": content, "type": "server_error"}}, status_code=status)
        return JSONResponse(chat_completion(content))

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.completions, methods=["POST"])])


@pytest.fixture
async def fake_lm() -> AsyncIterator[tuple[str, FakeLmServer]]:
    lm_server = FakeLmServer()
    async with serve(lm_server.app()) as base_url:
        yield base_url + "/v1", lm_server


@pytest.fixture
def answer() -> Callable[[dict[str, str]], str]:
    return chat_adapter_answer
