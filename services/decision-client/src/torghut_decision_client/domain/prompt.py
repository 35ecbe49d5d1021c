"""The chat-completions prompt: the request as JSON in, a decision as JSON out."""

from __future__ import annotations

import json

from torghut_contracts.decision_engine import DecisionRequest

from .llm_answer import LlmDecision

PROMPT_VERSION = "torghut.decision.chat.v1"

SYSTEM_PROMPT = (
    "You are the decision stage of an intraday US-equities trading system (paper trading first). "
    "You receive a decision request: a strategy trigger with its features, the account's portfolio, "
    "and the risk policy. Propose exactly one advisory intent: buy, sell or hold. A deterministic risk "
    "firewall has the final say, so never exceed the risk policy and prefer hold when the evidence is weak, "
    "stale or contradictory. A hold has qty 0; a buy or sell has qty > 0 shares. "
    "Answer with one JSON object and nothing else, matching this JSON Schema:\n"
)


def chat_messages(request: DecisionRequest) -> list[dict[str, str]]:
    schema = json.dumps(LlmDecision.model_json_schema(), sort_keys=True, separators=(",", ":"))
    return [
        {"role": "system", "content": SYSTEM_PROMPT + schema},
        {"role": "user", "content": request.model_dump_json()},
    ]
