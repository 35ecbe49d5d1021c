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
