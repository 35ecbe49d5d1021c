"""DSPy mode end to end: with ``DummyLM`` and with a local OpenAI-compatible server speaking chat completions.

A model answer that agrees trades at the deterministic size; an answer that does not fit the
signature, or a server error, ends in a hold with ``llm_parse_error`` / ``llm_error``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from dspy.utils.dummies import DummyLM
from httpx_sse import aconnect_sse
from torghut_contracts.decision_engine import STREAM_PATH, DecisionFinal
from torghut_contracts.enums import Action
from torghut_decision_engine.adapters.dspy_program import REVIEW_SCHEMA
from torghut_decision_program.shipped import shipped_artifacts
from torghut_embedded.llm_standin import Answer

SHIPPED_HASH = next(iter(shipped_artifacts()))
BodyFactory = Callable[..., dict[str, Any]]
EngineServer = Callable[..., Any]
GOOD = {"action": "buy", "qty": "500", "confidence": "0.72",
        "rationale": "MACD above signal with neutral RSI; the size is capped by the position limit.",
        "risk_flags": '["missing news coverage"]'}


async def final_of(base: str, body: dict[str, Any]) -> tuple[DecisionFinal, dict[str, str]]:
    events: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base, timeout=20) as client, \
            aconnect_sse(client, "POST", STREAM_PATH, json=body) as source:
        async for sse in source.aiter_sse():
            if sse.data:
                events[sse.event] = sse.data
    return DecisionFinal.model_validate_json(events["decision.final"]), events


async def test_dspy_mode_with_dummy_lm(engine_server: EngineServer, make_body: BodyFactory) -> None:
    lm = DummyLM([GOOD, {"action": "hold", "qty": "0", "confidence": "0.9", "rationale": "RSI is stretched.",
                         "risk_flags": "[]"}])
    async with engine_server(lm=lm) as (base, _):
        final, events = await final_of(base, make_body())
        assert (final.mode, final.program, final.artifact_hash) == ("dspy", "trade-decision-v1", SHIPPED_HASH)
        assert (final.intent.action, final.intent.qty, final.confidence) == (Action.BUY, 10, Decimal("0.72")), \
            "the program's qty of 500 cannot enlarge the deterministic size"
        assert "llm:missing_news_coverage" in final.risk_flags
        assert json.loads(events["decision.analysis_complete"])["summary"] == GOOD["rationale"]

        held, _ = await final_of(base, make_body(request_id="req-2"))
        assert (held.intent.action, held.intent.qty, held.reason_codes) == (Action.HOLD, 0, ["llm_hold"])
        assert held.size_recommendation.max_qty == 10


async def test_dspy_mode_against_a_local_openai_compatible_server(
        engine_server: EngineServer, make_body: BodyFactory, fake_lm: tuple[str, Any],
        answer: Callable[[dict[str, str]], str]) -> None:
    lm_url, lm_server = fake_lm
    lm_server.answer(answer(GOOD), "I think you should probably buy, but who knows.",  # no fields: unparseable
                     Answer("the model server fell over", status=500))
    settings = {"decision_engine_llm_base_url": lm_url, "decision_engine_llm_model": "tiny-test",
                "decision_engine_llm_api_key": "sk-test", "decision_engine_llm_timeout_s": 5}
    async with engine_server(**settings) as (base, _):
        final, _ = await final_of(base, make_body(request_id="req-ok"))
        assert (final.mode, final.intent.action, final.intent.qty) == ("dspy", Action.BUY, 10)

        unparseable, _ = await final_of(base, make_body(request_id="req-garbage"))
        assert (unparseable.mode, unparseable.intent.action, unparseable.intent.qty) == ("fallback", Action.HOLD, 0)
        assert unparseable.reason_codes == ["llm_parse_error"]

        failed, _ = await final_of(base, make_body(request_id="req-500"))
        assert (failed.mode, failed.intent.action) == ("fallback", Action.HOLD)
        assert failed.reason_codes == ["llm_error"]
        assert failed.size_recommendation.max_qty == 10, "the deterministic analysis still stands"

    sent = lm_server.requests[0]
    assert sent["model"] == "tiny-test"
    assert sent["temperature"] == 0.0
    assert lm_server.headers[0]["authorization"] == "Bearer sk-test"
    assert sent["stream"] is True, "a review is streamed, so one abandoned at its deadline stops on the server"
    assert "NVDA" in json.dumps(sent["messages"]), "the request reaches the model"
    assert len(lm_server.requests) == 3, \
        "one try each: a streamed answer that does not parse gets no second try in JSON, a 500 no retry"


async def test_a_hold_from_the_rules_is_not_sent_to_the_model(
        engine_server: EngineServer, make_body: BodyFactory, fake_lm: tuple[str, Any],
        answer: Callable[[dict[str, str]], str]) -> None:
    """The review can only veto, so a hold is decided without it: the model's time goes to trades."""
    lm_url, lm_server = fake_lm
    lm_server.answer(answer(GOOD))
    settings = {"decision_engine_llm_base_url": lm_url, "decision_engine_llm_model": "tiny-test",
                "decision_engine_llm_timeout_s": 5}
    async with engine_server(**settings) as (base, _):
        held, _ = await final_of(base, make_body(request_id="req-kill",
                                                      risk_policy={"kill_switch_enabled": True}))
        assert (held.mode, held.intent.action, held.reason_codes) == ("deterministic", Action.HOLD,
                                                                      ["kill_switch_enabled"])
        assert lm_server.requests == [], "a hold was sent to the model"

        traded, _ = await final_of(base, make_body(request_id="req-trade"))
        assert (traded.mode, traded.intent.action) == ("dspy", Action.BUY)
        assert len(lm_server.requests) == 1


async def test_with_the_review_schema_the_review_is_asked_and_read_in_json(
        engine_server: EngineServer, make_body: BodyFactory, fake_lm: tuple[str, Any]) -> None:
    """DECISION_ENGINE_LLM_RESPONSE_SCHEMA: the server is handed the schema (llama.cpp makes it a grammar)."""
    lm_url, lm_server = fake_lm
    lm_server.answer(json.dumps({"action": "buy", "qty": "10", "confidence": "0.8", "risk_flags": ["thin_tape"],
                                 "rationale": "MACD crossed up on rising volume."}))
    settings = {"decision_engine_llm_base_url": lm_url, "decision_engine_llm_model": "tiny-test",
                "decision_engine_llm_timeout_s": 5, "decision_engine_llm_response_schema": True}
    async with engine_server(**settings) as (base, _):
        final, _ = await final_of(base, make_body(request_id="req-json"))
    assert (final.mode, final.intent.action, final.confidence) == ("dspy", Action.BUY, Decimal("0.8"))
    assert "llm:thin_tape" in final.risk_flags
    assert lm_server.requests[0]["response_format"] == {"type": "json_object", "schema": REVIEW_SCHEMA}
