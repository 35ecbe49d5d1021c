"""The chat-completions transport against a local OpenAI-compatible server over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from torghut_contracts.decision_engine import DecisionRequest
from torghut_contracts.enums import Action
from torghut_decision_client.adapters.chat_client import ChatCompletionsClient
from torghut_decision_client.adapters.engine_client import EngineClientConfig
from torghut_decision_client.domain import reasons
from torghut_decision_client.domain.jangar_url import chat_completions_url
from torghut_decision_client.domain.outcome import EngineAnswer, EngineFailure
from torghut_embedded.llm_standin import Answer, LocalLlm

DECISION = {"intent": {"action": "sell", "qty": "3", "adapter_hint": "alpaca"}, "confidence": 0.62,
            "uncertainty_notes": ["thin tape"], "risk_flags": ["rsi_overbought"],
            "size_recommendation": {"max_qty": "3", "max_notional": "480"}}
CONFIG = EngineClientConfig(base_url="unused", read_timeout_s=2.0, stall_timeout_s=2.0, deadline_s=5.0,
                            max_reconnects=2, backoff_initial_s=0.01, backoff_max_s=0.02)


async def decide(base: str, request: DecisionRequest, **kwargs: Any) -> Any:
    client = ChatCompletionsClient(url=chat_completions_url(base), model="gpt-test", config=CONFIG, **kwargs)
    try:
        return await client.decide(request)
    finally:
        await client.aclose()


@pytest.mark.parametrize("suffix", ["", "/", "/openai/v1", "/openai/v1/chat/completions/"])
async def test_a_streamed_answer_becomes_the_decision(local_llm: tuple[LocalLlm, str], suffix: str,
                                                      make_request: Callable[..., DecisionRequest]) -> None:
    llm, url = local_llm
    llm.answer(Answer(json.dumps(DECISION), noise=True))
    outcome = await decide(url + suffix, make_request(), api_key="secret-1")
    assert isinstance(outcome, EngineAnswer)
    assert outcome.intent.action is Action.SELL and outcome.intent.qty == Decimal(3)
    assert outcome.confidence == Decimal("0.62") and outcome.risk_flags == ("rsi_overbought",)
    assert outcome.provenance.transport == "chat-completions"
    assert outcome.provenance.engine_version == "local-test-model"
    assert outcome.provenance.run_id == "chatcmpl-local-stream"
    assert llm.paths == ["/openai/v1/chat/completions"]
    body, headers = llm.requests[0], llm.headers[0]
    assert body["stream"] is True and body["model"] == "gpt-test"
    assert body["response_format"] == {"type": "json_object"}
    assert json.loads(body["messages"][1]["content"])["request_id"] == "req-1"
    assert headers["authorization"] == "Bearer secret-1" and headers["x-trade-execution"] == "torghut"


@pytest.mark.parametrize(("answer", "reason"), [
    (Answer("I would buy some NVDA."), reasons.ENGINE_MALFORMED_FINAL),
    (Answer(json.dumps({"intent": {"action": "buy", "qty": "0"}, "confidence": 0.9})), reasons.ENGINE_MALFORMED_FINAL),
    (Answer(json.dumps(DECISION), omit_done=True), reasons.ENGINE_STREAM_TRUNCATED),
    (Answer(json.dumps(DECISION), error_frame="upstream model crashed"), reasons.ENGINE_ERROR),
    (Answer("bad request", status=400), reasons.ENGINE_REJECTED_REQUEST),
])
async def test_every_bad_answer_is_a_hold_reason(local_llm: tuple[LocalLlm, str], answer: Answer, reason: str,
                                                 make_request: Callable[..., DecisionRequest]) -> None:
    llm, url = local_llm
    llm.answer(answer)
    outcome = await decide(url, make_request())
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reason,)


@pytest.mark.parametrize(("answer", "max_tokens"), [
    (Answer(json.dumps(DECISION) + " " * 400), 40),  # more pieces than 40 tokens can make: cut mid-stream
    (Answer(json.dumps(DECISION), completion_tokens=90), 80),  # short enough to stream, but usage says 90
])
async def test_an_answer_past_the_token_limit_is_a_hold(local_llm: tuple[LocalLlm, str], answer: Answer,
                                                        max_tokens: int,
                                                        make_request: Callable[..., DecisionRequest]) -> None:
    llm, url = local_llm
    llm.answer(answer)
    outcome = await decide(url, make_request(), max_tokens=max_tokens)
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_ANSWER_OVERLONG,)
    assert f"limit of {max_tokens}" in outcome.detail
    assert llm.requests[0]["max_tokens"] == max_tokens


async def test_server_errors_are_retried_then_unavailable(local_llm: tuple[LocalLlm, str],
                                                          make_request: Callable[..., DecisionRequest]) -> None:
    llm, url = local_llm
    llm.answer(Answer("overloaded", status=503), Answer(json.dumps(DECISION)))
    assert isinstance(await decide(url, make_request()), EngineAnswer)
    llm.answer(*[Answer("overloaded", status=503)] * 3)
    outcome = await decide(url, make_request())
    assert isinstance(outcome, EngineFailure) and outcome.reason_codes == (reasons.ENGINE_UNAVAILABLE,)
    assert len(llm.requests) == 5
