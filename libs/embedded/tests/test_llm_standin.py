"""The deterministic LM stand-in: its documented rule, and the protocol over loopback HTTP."""

from __future__ import annotations

import json

import httpx
from torghut_embedded.asgi import serve_in_thread
from torghut_embedded.llm_standin import STANDIN_OWNER, dspy_chat_answer
from torghut_embedded.rule_llm import RuleLlm, rule_decision


def request(direction: str, rsi: float, *, symbol: str = "AAPL", position: bool = False) -> str:
    return json.dumps({"symbol": symbol, "trigger": {"direction": direction, "price": "100",
                                                     "features": {"rsi14": str(rsi)}},
                       "portfolio": {"position": {"qty": "5"} if position else None},
                       "risk_policy": {"max_notional_per_trade": "7000"}})


def user(request_json: str) -> dict[str, str]:
    return {"role": "user", "content": f"[[ ## request_json ## ]]\n{request_json}\n\nRespond with the fields."}


def test_zero_shot_follows_the_trigger_unless_rsi_is_against_it() -> None:
    assert rule_decision([user(request("buy", 55))])["action"] == "buy"
    assert rule_decision([user(request("buy", 75))]) | {"rationale": ""} == {
        "action": "hold", "qty": 0.0, "confidence": 0.5, "rationale": "", "risk_flags": []}
    assert rule_decision([user(request("sell", 20))])["action"] == "hold"
    assert rule_decision([user(request("sell", 40))])["qty"] == 70.0  # floor(7000 / 100)


def test_few_shot_keeps_the_nearest_demos_relation_to_its_trigger() -> None:
    demos = [user(request("buy", 30, symbol="MSFT")),
             {"role": "assistant", "content": dspy_chat_answer({"action": "sell"})},
             user(request("buy", 80)), {"role": "assistant", "content": dspy_chat_answer({"action": "hold"})}]
    assert rule_decision([*demos, user(request("buy", 70))])["action"] == "hold"  # same symbol wins
    assert rule_decision([*demos, user(request("buy", 30, symbol="MSFT"))])["action"] == "sell"
    assert rule_decision([*demos, user(request("sell", 50))])["action"] == "sell"  # no sell demo: zero-shot


def test_it_speaks_openai_chat_completions_and_says_it_is_a_standin() -> None:
    llm = RuleLlm()
    with serve_in_thread(llm.app) as url:
        models = httpx.get(url + "/v1/models").json()
        answer = httpx.post(url + "/v1/chat/completions", json={"model": "m", "messages": [user(request("buy", 50))]})
    assert models["data"][0]["owned_by"] == STANDIN_OWNER
    assert answer.headers["x-torghut-llm-standin"] == "rule-v1"
    assert answer.json()["choices"][0]["message"]["content"].startswith("[[ ## action ## ]]\nbuy")
    assert llm.calls == 1
