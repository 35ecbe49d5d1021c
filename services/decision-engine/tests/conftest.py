"""Shared fixtures: request builders, a running engine behind real uvicorn, a local OpenAI-compatible server."""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from torghut_contracts.decision_engine import DecisionRequest
from torghut_decision_engine.app import DecisionEngine, build
from torghut_decision_engine.settings import DecisionEngineSettings
from torghut_decision_engine.testing import REQUEST_BODY, serve
from torghut_decision_program.shipped import shipped_artifacts
from torghut_embedded.llm_standin import LocalLlm, dspy_chat_answer
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


@pytest.fixture
async def fake_lm() -> AsyncIterator[tuple[str, LocalLlm]]:
    """A local OpenAI-compatible server answering from a script, streamed when asked (as the reviewer asks)."""
    lm_server = LocalLlm(model="test-model")
    async with serve(lm_server.app) as base_url:
        yield base_url + "/v1", lm_server


@pytest.fixture
def answer() -> Callable[[dict[str, str]], str]:
    return dspy_chat_answer
