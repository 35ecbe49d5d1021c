"""Chat-completions stream assembly and strict parsing of the model's answer."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from torghut_contracts.enums import Action
from torghut_decision_client.domain.chat_stream import ChatStreamAssembly, ChatStreamError
from torghut_decision_client.domain.llm_answer import parse_llm_decision


def chunk(content: str | None = None, **extra: object) -> str:
    frame: dict[str, object] = {"id": "chatcmpl-1", "model": "m1", **extra}
    if content is not None:
        frame["choices"] = [{"index": 0, "delta": {"content": content}}]
    return json.dumps(frame)


def test_deltas_are_concatenated_noise_is_skipped_and_done_ends_the_stream() -> None:
    assembly = ChatStreamAssembly()
    for data in [chunk(' {"a"'), "not json", "[1,2]", "", chunk(": 1} "),
                 chunk(usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}), "[DONE]"]:
        assembly.feed(data)
    assert assembly.done
    assert assembly.content == '{"a": 1}'
    assert assembly.usage == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert (assembly.completion_id, assembly.model) == ("chatcmpl-1", "m1")


def test_message_content_counts_too() -> None:
    assembly = ChatStreamAssembly()
    assembly.feed(json.dumps({"choices": [{"message": {"content": "whole"}}]}))
    assert assembly.content == "whole" and not assembly.done


@pytest.mark.parametrize(("error", "message"), [
    ({"message": "model overloaded", "code": "x"}, "model overloaded"),
    ({"code": "rate_limited"}, "rate_limited"),
    ("plain failure", "plain failure"),
])
def test_an_error_frame_raises_its_message(error: object, message: str) -> None:
    with pytest.raises(ChatStreamError, match=message):
        ChatStreamAssembly().feed(json.dumps({"error": error}))


VALID = {"intent": {"action": "buy", "qty": "10", "adapter_hint": "alpaca"}, "confidence": 0.7,
         "risk_flags": ["news_missing"], "size_recommendation": {"max_qty": "12", "max_notional": "2000"}}


@pytest.mark.parametrize("text", [
    json.dumps(VALID),
    "```json\n" + json.dumps(VALID) + "\n```",
    "  " + json.dumps({**VALID, "run_id": "ignored", "engine_version": "x"}) + "\n",
])
def test_a_decision_shaped_answer_parses(text: str) -> None:
    answer = parse_llm_decision(text)
    assert answer.intent.action is Action.BUY and answer.intent.qty == Decimal(10)
    assert answer.confidence == Decimal("0.7") and answer.risk_flags == ["news_missing"]


@pytest.mark.parametrize(("text", "problem"), [
    ("", "no content"),
    ("I think you should buy NVDA", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({"intent": {"action": "buy", "qty": "0"}, "confidence": 0.5}), "qty > 0"),
    (json.dumps({"intent": {"action": "hold", "qty": "3"}, "confidence": 0.5}), "qty 0"),
    (json.dumps({"intent": {"action": "short", "qty": "3"}, "confidence": 0.5}), "intent.action"),
    (json.dumps({"intent": {"action": "buy", "qty": "3"}, "confidence": 1.5}), "confidence"),
    (json.dumps({"intent": {"action": "buy", "qty": "3"}}), "confidence"),
    (json.dumps({"intent": {"action": "buy", "qty": "NaN"}, "confidence": 0.5}), "finite"),
])
def test_anything_else_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_llm_decision(text)
    assert problem in str(info.value)


def test_what_the_answer_schema_admits_parses_as_a_decision() -> None:
    """The grammar a local model is held to (LLM_RESPONSE_SCHEMA) admits only what the strict parser takes:
    the example its bounds allow at their widest, checked against the schema and then parsed."""
    import jsonschema
    from torghut_decision_client.domain.llm_answer import ANSWER_SCHEMA

    for answer in ({"intent": {"action": "sell", "qty": "999999"}, "confidence": "0.05",
                    "uncertainty_notes": ["a", "b", "c"], "risk_flags": ["x"] * 5},
                   {"intent": {"action": "hold", "qty": "0"}, "confidence": "1", "uncertainty_notes": [],
                    "risk_flags": []}):
        jsonschema.validate(answer, ANSWER_SCHEMA)
        decision = parse_llm_decision(json.dumps(answer))
        assert decision.intent.action in set(Action) and 0 <= decision.confidence <= 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"intent": {"action": "buy", "qty": "1"}, "confidence": "2", "uncertainty_notes": [],
                             "risk_flags": []}, ANSWER_SCHEMA)


async def test_the_chat_body_carries_the_schema_only_when_asked() -> None:
    from torghut_decision_client.adapters.chat_client import ChatCompletionsClient
    from torghut_decision_client.adapters.engine_config import EngineClientConfig
    from torghut_decision_client.domain.llm_answer import ANSWER_SCHEMA

    config = EngineClientConfig(base_url="http://127.0.0.1:1")
    plain = ChatCompletionsClient(url="http://127.0.0.1:1/v1/chat/completions", model="m", config=config)
    shaped = ChatCompletionsClient(url="http://127.0.0.1:1/v1/chat/completions", model="m", config=config,
                                   response_schema=True)
    assert plain.response_format == {"type": "json_object"}
    assert shaped.response_format == {"type": "json_object", "schema": ANSWER_SCHEMA}
    await plain.aclose()
    await shaped.aclose()
