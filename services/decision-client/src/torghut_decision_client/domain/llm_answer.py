"""Reading a language model's answer as a decision, strictly.

The model is asked for JSON shaped like the engine's ``decision.final`` minus what only an engine
knows (run id, versions). Anything that does not validate raises ``ValueError`` and the caller
holds: a model's prose is never interpreted into a trade.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field, ValidationError
from torghut_contracts.enums import Action
from torghut_contracts.models import DecisionIntent, SizeRecommendation
from torghut_contracts.models.base import Contract
from torghut_contracts.types import NonNegative

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class LlmDecision(Contract):
    intent: DecisionIntent
    confidence: NonNegative = Field(le=1)
    uncertainty_notes: list[str] = Field(default_factory=list)
    size_recommendation: SizeRecommendation | None = None
    risk_flags: list[str] = Field(default_factory=list)
    reason_codes: list[str] = Field(default_factory=list)


_WHOLE_SHARES = {"type": "string", "pattern": "^(0|[1-9][0-9]{0,5})$"}
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intent": {"type": "object", "required": ["action", "qty"],
                   "properties": {"action": {"enum": [a.value for a in Action]}, "qty": _WHOLE_SHARES}},
        "confidence": {"type": "string", "pattern": "^(0([.][0-9]{1,2})?|1)$"},
        "uncertainty_notes": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "risk_flags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
    },
    "required": ["intent", "confidence", "uncertainty_notes", "risk_flags"],
}
"""The answer's core as a JSON schema a server can turn into a grammar (``LLM_RESPONSE_SCHEMA``).

Every field required, no ``$ref``, whole shares, a confidence spelled as a string (a grammar bounds
digits, not numbers: ``minimum``/``maximum`` are not enforced, and a tiny model answered 2), no
string lengths. llama.cpp's converter falls back to any JSON object on the full
:class:`LlmDecision` schema (its look-ahead pattern), writes an escape its own parser rejects for
``\\.`` in a pattern (the server went down on it here; ``[.]`` works), and spells a ``maxLength``
out as that many nested rules. What the grammar lets through is still validated as an
:class:`LlmDecision`."""


def parse_llm_decision(content: str) -> LlmDecision:
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    if not text:
        raise ValueError("the model returned no content")
    try:
        raw: Any = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"the model's answer is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError("the model's answer is not a JSON object")
    try:
        return LlmDecision.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])
        raise ValueError(f"the model's answer is not a decision: {problems}") from None
