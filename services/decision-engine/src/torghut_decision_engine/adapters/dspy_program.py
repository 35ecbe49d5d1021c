"""DSPy mode: the compiled trade-decision program gives a second opinion on the deterministic proposal.

The program is the one the decision-client runs and the research lane compiles
(``torghut_decision_program``), loaded from a verified artifact by its hash
(``DECISION_ENGINE_DSPY_ARTIFACT_HASH``): one promoted hash means the same program in both services.
Its input is the decision request alone, exactly as in the compiled data set; it does not see the
deterministic proposal or the skills, so its answer is an independent opinion rather than one
anchored on the rules' conclusion. The rules then combine the two: the opinion can turn a trade into
a hold, never enlarge it (``domain.rules.apply_llm_opinion``); its ``qty`` is ignored.

``dspy`` is imported only when DSPy mode is on (the import takes seconds), after
``LITELLM_LOCAL_MODEL_COST_MAP`` is exported so no cost map is fetched from the internet. Every
failure becomes an :class:`LlmFailure` with a reason code: ``llm_parse_error`` when the model's
answer does not fit the signature, ``llm_error`` for anything else (transport, HTTP status,
timeout). The caller turns that into a deterministic hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import math
import re
from decimal import Decimal
from typing import Any

from torghut_contracts.decision_engine import DecisionRequest
from torghut_contracts.enums import Action
from torghut_decision_program import ProgramArtifact
from torghut_decision_program.program import build_module, import_dspy

from ..domain.rules import LlmOpinion

MAX_ANALYSIS_CHARS = 3900
MAX_FLAGS = 10
_FLAG_CHARS = re.compile(r"[^a-z0-9_\-]+")


class LlmFailure(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail[:500]


_WHOLE_SHARES = {"type": "string", "pattern": "^(0|[1-9][0-9]{0,5})$"}
REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"enum": [action.value for action in Action]},
        "qty": _WHOLE_SHARES,
        "confidence": {"type": "string", "pattern": "^(0([.][0-9]{1,2})?|1)$"},
        "risk_flags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "rationale": {"type": "string"},
    },
    "required": ["action", "qty", "confidence", "risk_flags", "rationale"],
}
"""The review's output fields as a schema llama.cpp can hold a model to (``DECISION_ENGINE_LLM_RESPONSE_SCHEMA``).

Flat, every field required, numbers spelled as strings (a grammar bounds digits, not values: a tiny
model answered confidence 2 when the bound was only ``maximum``), no string lengths (spelled out as
that many nested rules), no ``\\.`` (llama.cpp's own parser refuses the escape its converter writes).
The decision-client's ``ANSWER_SCHEMA`` follows the same rules. What it admits is still validated by
:func:`opinion_from`."""


def build_lm(base_url: str, model: str, api_key: str | None, timeout_s: float, max_tokens: int, *,
             response_schema: bool = False) -> Any:
    """An OpenAI-compatible LM on dspy's native engine; one attempt, no cache (a review is not reusable).

    With ``response_schema`` every call carries :data:`REVIEW_SCHEMA`. dspy's ``JSONAdapter`` sets a
    ``response_format`` of its own only for a model its catalogue says takes one; a local model is not
    in it, so the LM's own keyword reaches the server.
    """
    dspy = import_dspy()
    extra = {"response_format": {"type": "json_object", "schema": REVIEW_SCHEMA}} if response_schema else {}
    return dspy.LM(f"openai/{model}", api_base=base_url, api_key=api_key or "not-needed", temperature=0.0,
                   max_tokens=max_tokens, cache=False, num_retries=0, timeout=timeout_s, **extra)


def _flag(value: object) -> str:
    return _FLAG_CHARS.sub("_", str(value).strip().lower()).strip("_")[:48]


def opinion_from(prediction: Any) -> LlmOpinion:
    """Validate the prediction; anything out of contract is a parse error, never a guess."""
    try:
        action = Action(str(prediction.action).strip().lower())
        confidence = float(prediction.confidence)
        rationale = str(prediction.rationale).strip()
        flags = [_flag(flag) for flag in list(prediction.risk_flags or [])]
    except (AttributeError, TypeError, ValueError) as exc:
        raise LlmFailure("llm_parse_error", f"prediction does not fit the signature: {exc}") from exc
    if not math.isfinite(confidence) or not 0 <= confidence <= 1:
        raise LlmFailure("llm_parse_error", f"confidence {confidence!r} is outside [0, 1]")
    if not rationale:
        raise LlmFailure("llm_parse_error", "empty rationale")
    return LlmOpinion(action=action, confidence=Decimal(str(round(confidence, 4))),
                      analysis=rationale[:MAX_ANALYSIS_CHARS],
                      risk_flags=tuple(dict.fromkeys(f for f in flags if f))[:MAX_FLAGS])


class DspyReviewer:
    """Runs the compiled program against one LM (a real ``dspy.LM`` or, in tests, ``DummyLM``)."""

    def __init__(self, artifact: ProgramArtifact, lm: Any, *, timeout_s: float, in_json: bool = False) -> None:
        self.dspy = import_dspy()
        # dspy imports litellm on its first LM call: 5.7 s on a machine that compiles it from source,
        # which the first review would spend out of its deadline. Taken here, before the engine is ready.
        importlib.import_module("litellm")
        self.lm = lm
        self.adapter = self.dspy.JSONAdapter() if in_json else self.dspy.ChatAdapter()
        """JSON when the server holds the answer to :data:`REVIEW_SCHEMA`; dspy's chat format otherwise."""
        self.timeout_s = timeout_s
        self.program_name = artifact.program_name
        self.artifact_hash = artifact.artifact_hash
        self.module = build_module(artifact.state)  # the compiled state; never an LM from the file
        self.streamed = self.dspy.streamify(self.module, is_async_program=True)

    async def _predict(self, request_json: str) -> Any:
        """The program's prediction, its LM call streamed.

        Streamed so that a review abandoned at the deadline closes its connection: a server such as
        llama.cpp's notices a closed stream between two tokens and stops generating, while a plain
        request runs to its end for nobody, and the next review waits behind it. Once output has
        streamed, dspy does not ask again in JSON when the chat format does not parse: one try a review.
        """
        async with contextlib.aclosing(self.streamed(request_json=request_json)) as stream:
            async for value in stream:
                if isinstance(value, self.dspy.Prediction):
                    return value
        raise LlmFailure("llm_error", "the program's stream ended without a prediction")

    async def review(self, request: DecisionRequest) -> LlmOpinion:
        from dspy.utils.exceptions import AdapterParseError

        try:
            with self.dspy.context(lm=self.lm, adapter=self.adapter):
                prediction = await asyncio.wait_for(self._predict(request.model_dump_json()), timeout=self.timeout_s)
        except LlmFailure:
            raise
        except AdapterParseError as exc:
            raise LlmFailure("llm_parse_error", str(exc).splitlines()[0] if str(exc) else "unparseable") from exc
        except TimeoutError as exc:
            raise LlmFailure("llm_error", f"no answer within {self.timeout_s:g}s") from exc
        except Exception as exc:  # transport, HTTP status, provider: all fail closed the same way
            raise LlmFailure("llm_error", f"{type(exc).__name__}: {exc}") from exc
        return opinion_from(prediction)
