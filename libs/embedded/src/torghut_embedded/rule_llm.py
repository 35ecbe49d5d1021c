"""The deterministic LM stand-in for the trade-decision program (``torghut_decision_program``).

It answers in dspy's ChatAdapter format (``[[ ## field ## ]]``
sections). The same conversation always gets the same bytes back. Its rule, documented because
tests and the benchmark rely on it:

1. the request is the JSON in the last ``[[ ## request_json ## ]]`` section of the last user
   message (the trigger's direction and features, the portfolio, the risk policy);
2. **few-shot**: the conversation's worked examples (dspy sends each demo as a user message with
   its ``request_json`` and an assistant message with its ``action``) are searched for the
   nearest one with the same trigger direction and the same holding state (a position in the
   symbol or not), by distance ``(100 if another symbol else 0) + |rsi14 - rsi14'|``, then by
   order; the answer keeps that demo's relation to its trigger: *follow* the direction, *hold*,
   or take the *opposite* side;
3. **zero-shot** (no demo of that kind): follow the trigger's direction unless RSI is against it
   (a buy with ``rsi14 >= 70`` or a sell with ``rsi14 <= 30`` is a hold);
4. qty: ``floor(max_notional_per_trade / price)`` (at least 1) for a buy or sell, 0 for a hold;
   confidence 0.6 (few-shot) or 0.5 (zero-shot); ``risk_flags`` empty.

So a compiled program (demos in the prompt) answers differently from the uncompiled one, in a way
its demos decide: what an optimizer's choice of demos changes is visible in the metrics.

It speaks the same protocol as :class:`~torghut_embedded.llm_standin.LocalLlm`, streamed when
asked (as the decision engine asks for its reviews). As a process::

    uv run python -m torghut_embedded.rule_llm --port 8765      # http://127.0.0.1:8765/v1
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .asgi import server
from .llm_standin import STANDIN_HEADER, STANDIN_OWNER, Answer, completion_body, completion_chunks, dspy_chat_answer

_SECTION = re.compile(r"\[\[ ## (\w+) ## \]\]\s*\n(.*?)(?=\n\s*\[\[ ## |\Z)", re.S)


@dataclass(frozen=True)
class _Case:
    symbol: str | None
    direction: str | None
    rsi: float | None
    holding: bool
    price: float | None
    max_notional: float | None


def _sections(text: str) -> dict[str, str]:
    return {name: value.strip() for name, value in _SECTION.findall(text or "")}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _case(request_json: str) -> _Case | None:
    try:  # the section may be followed by the adapter's instructions: read the one JSON value at its start
        request, _ = json.JSONDecoder().raw_decode(request_json.strip())
    except json.JSONDecodeError:
        return None
    if not isinstance(request, dict):
        return None
    trigger = request.get("trigger") or {}
    features = trigger.get("features") or {}
    portfolio = request.get("portfolio") or {}
    position = portfolio.get("position") or {}
    policy = request.get("risk_policy") or {}
    qty = _number(position.get("qty")) if isinstance(position, dict) else None
    direction = trigger.get("direction")
    return _Case(symbol=str(request.get("symbol")) if request.get("symbol") else None,
                 direction=direction if direction in ("buy", "sell") else None, rsi=_number(features.get("rsi14")),
                 holding=bool(qty), price=_number(trigger.get("price")),
                 max_notional=_number(policy.get("max_notional_per_trade")))


def _relation(case: _Case, action: str) -> str:
    if action == "hold":
        return "hold"
    return "follow" if action == case.direction else "opposite"


def _apply(case: _Case, relation: str) -> str:
    if relation == "hold" or case.direction is None:
        return "hold"
    if relation == "follow":
        return case.direction
    return "sell" if case.direction == "buy" else "buy"


def rule_decision(messages: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The stand-in's answer (the signature's output fields) to a ChatAdapter conversation; see the module doc."""
    def text(message: Mapping[str, Any]) -> str:
        content = message.get("content")
        if isinstance(content, list):  # OpenAI content parts
            return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        return str(content or "")

    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        return {"action": "hold", "qty": 0.0, "confidence": 0.0, "rationale": "no request",
                "risk_flags": ["no_request"]}
    demos: list[tuple[_Case, str]] = []
    for index in users[:-1]:
        request_json = _sections(text(messages[index])).get("request_json")
        follow = messages[index + 1] if index + 1 < len(messages) else {}
        action = _sections(text(follow)).get("action") if follow.get("role") == "assistant" else None
        demo = _case(request_json) if request_json else None
        if demo is not None and action in ("buy", "sell", "hold"):
            demos.append((demo, action))
    request_json = _sections(text(messages[users[-1]])).get("request_json")
    case = _case(request_json) if request_json else None
    if case is None:
        return {"action": "hold", "qty": 0.0, "confidence": 0.0, "rationale": "the request is not JSON",
                "risk_flags": ["unreadable_request"]}
    similar = [((0.0 if d.symbol == case.symbol else 100.0) + abs((d.rsi or 50.0) - (case.rsi or 50.0)), i, d, a)
               for i, (d, a) in enumerate(demos)
               if d.direction == case.direction and d.holding == case.holding]
    if similar:
        _, index, demo, action = min(similar, key=lambda s: (s[0], s[1]))
        answer = _apply(case, _relation(demo, action))
        confidence = 0.6
        rationale = f"like worked example {index + 1} (rsi14 {demo.rsi}, {_relation(demo, action)})"
    else:
        rsi = case.rsi if case.rsi is not None else 50.0
        against = (case.direction == "buy" and rsi >= 70) or (case.direction == "sell" and rsi <= 30)
        answer = "hold" if against or case.direction is None else case.direction
        confidence = 0.5
        rationale = f"trigger {case.direction} with rsi14 {rsi:g}" + (" against it" if against else "")
    qty = 0.0
    if answer != "hold":
        price, cap = case.price or 0.0, case.max_notional or 0.0
        qty = float(max(1, math.floor(cap / price))) if price > 0 and cap > 0 else 1.0
    return {"action": answer, "qty": qty, "confidence": confidence, "rationale": rationale, "risk_flags": []}


@dataclass
class RuleLlm:
    """The deterministic stand-in (module doc); ``calls`` counts completions served."""

    model: str = "torghut-standin"
    calls: int = 0
    malformed_every: int = 0
    """Answer every n-th request with text that is not in the ChatAdapter format (0: never)."""

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[
            Route("/openai/v1/chat/completions", self._complete, methods=["POST"]),
            Route("/v1/chat/completions", self._complete, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/openai/v1/models", self._models, methods=["GET"]),
        ])

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model",
                                                         "owned_by": STANDIN_OWNER}]},
                            headers={STANDIN_HEADER: "rule-v1"})

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        self.calls += 1
        if self.malformed_every and self.calls % self.malformed_every == 0:
            content = "I would rather not answer in your format."
        else:
            content = dspy_chat_answer(rule_decision(list(body.get("messages") or [])))
        model = str(body.get("model") or self.model)
        if body.get("stream"):  # as the decision engine asks for its reviews
            return StreamingResponse(completion_chunks(model, Answer(content), chunk_size=64),
                                     media_type="text/event-stream", headers={STANDIN_HEADER: "rule-v1"})
        return JSONResponse(completion_body(model, content), headers={STANDIN_HEADER: "rule-v1"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m torghut_embedded.rule_llm",
                                     description="the deterministic trade-decision LM stand-in (RuleLlm) on loopback")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--model", default="torghut-standin")
    args = parser.parse_args(argv)
    print(f"LM stand-in on http://127.0.0.1:{args.port}/v1 (model {args.model})", flush=True)
    server(RuleLlm(model=args.model).app, port=args.port).run()


if __name__ == "__main__":
    main()
