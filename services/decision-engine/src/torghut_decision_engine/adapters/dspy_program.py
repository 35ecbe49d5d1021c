"""DSPy mode: a typed DSPy program reviews the deterministic proposal and writes the analysis.

``dspy`` is imported only when an LM is configured (the import takes seconds), after
``LITELLM_LOCAL_MODEL_COST_MAP`` is exported so no cost map is fetched from the internet. Every
failure becomes an :class:`LlmFailure` with a reason code: ``llm_parse_error`` when the model's
answer does not fit the signature, ``llm_error`` for anything else (transport, HTTP status,
timeout). The caller turns that into a deterministic hold.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Any, Literal

from torghut_contracts.decision_engine import DecisionRequest, SkillOutput
from torghut_contracts.enums import Action

from ..domain.ids import sha256_hex
from ..domain.rules import LlmOpinion, Proposal
from ..domain.skills import SKILL_BUNDLE_VERSION

PROGRAM_NAME = "torghut-decision-review-v1"
SIGNATURE_VERSION = "v1"
INSTRUCTIONS = (
    "You review one candidate intraday US-equity trade for an automated, paper-first trading system. "
    "You receive the request, the outputs of six analysis skills (market context, news sentiment, fundamentals, "
    "technicals and regime, risk and sizing, execution routing) and the deterministic proposal. Write a short "
    "analysis, then propose buy, sell or hold with a confidence between 0 and 1. You cannot enlarge the size or "
    "override a hold: when evidence is missing, stale or contradictory, propose hold. List risk flags as short "
    "snake_case tokens.")
MAX_ANALYSIS_CHARS = 3900
MAX_FLAGS = 10
_FLAG_CHARS = re.compile(r"[^a-z0-9_\-]+")


class LlmFailure(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail[:500]


def import_dspy() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import dspy

    return dspy


@cache
def review_signature() -> Any:
    """The typed signature, built on first use so importing this module does not import dspy."""
    dspy = import_dspy()

    class DecisionReview(dspy.Signature):  # type: ignore[misc,name-defined]
        request_json: str = dspy.InputField(desc="The decision request (trigger features, portfolio, risk policy).")
        skills_json: str = dspy.InputField(desc="Skill outputs with status, freshness and source quality.")
        proposal_json: str = dspy.InputField(desc="The deterministic proposal: action, qty, reason codes.")
        analysis: str = dspy.OutputField(desc="Two to six sentences: the evidence for and against this trade.")
        action: Literal["buy", "sell", "hold"] = dspy.OutputField()
        confidence: float = dspy.OutputField(desc="Confidence in the proposed action, between 0 and 1.")
        risk_flags: list[str] = dspy.OutputField(desc="Short snake_case risk flags; empty list if none.")
        uncertainty_notes: list[str] = dspy.OutputField(desc="What is unknown or uncertain; empty list if none.")

    return DecisionReview.with_instructions(INSTRUCTIONS)


def build_lm(base_url: str, model: str, api_key: str | None, timeout_s: float, max_tokens: int) -> Any:
    """An OpenAI-compatible LM on dspy's native engine; one attempt, no cache (a review is not reusable)."""
    dspy = import_dspy()
    return dspy.LM(f"openai/{model}", api_base=base_url, api_key=api_key or "not-needed", temperature=0.0,
                   max_tokens=max_tokens, cache=False, num_retries=0, timeout=timeout_s)


def _flag(value: object) -> str:
    return _FLAG_CHARS.sub("_", str(value).strip().lower()).strip("_")[:48]


def opinion_from(prediction: Any) -> LlmOpinion:
    """Validate the prediction; anything out of contract is a parse error, never a guess."""
    try:
        action = Action(str(prediction.action).strip().lower())
        confidence = float(prediction.confidence)
        analysis = str(prediction.analysis).strip()
        flags = [_flag(flag) for flag in list(prediction.risk_flags or [])]
        notes = [str(note).strip()[:300] for note in list(prediction.uncertainty_notes or [])]
    except (AttributeError, TypeError, ValueError) as exc:
        raise LlmFailure("llm_parse_error", f"prediction does not fit the signature: {exc}") from exc
    if not math.isfinite(confidence) or not 0 <= confidence <= 1:
        raise LlmFailure("llm_parse_error", f"confidence {confidence!r} is outside [0, 1]")
    if not analysis:
        raise LlmFailure("llm_parse_error", "empty analysis")
    return LlmOpinion(action=action, confidence=Decimal(str(round(confidence, 4))),
                      analysis=analysis[:MAX_ANALYSIS_CHARS],
                      risk_flags=tuple(dict.fromkeys(f for f in flags if f))[:MAX_FLAGS],
                      uncertainty_notes=tuple(note for note in notes if note)[:MAX_FLAGS])


class DspyReviewer:
    """Runs the review program against one LM (a real ``dspy.LM`` or, in tests, ``DummyLM``)."""

    def __init__(self, lm: Any, *, timeout_s: float, model: str) -> None:
        dspy = import_dspy()
        self.dspy = dspy
        self.lm = lm
        self.timeout_s = timeout_s
        self.program = dspy.Predict(review_signature())
        self.artifact_hash = sha256_hex({
            "program": PROGRAM_NAME, "signature_version": SIGNATURE_VERSION, "instructions": INSTRUCTIONS,
            "outputs": sorted(review_signature().output_fields), "model": model,
            "skill_bundle_version": SKILL_BUNDLE_VERSION})

    async def review(self, request: DecisionRequest, skills: Mapping[str, SkillOutput],
                     proposal: Proposal) -> LlmOpinion:
        from dspy.utils.exceptions import AdapterParseError

        inputs = {
            "request_json": request.model_dump_json(),
            "skills_json": json.dumps([output.model_dump(mode="json") for output in skills.values()]),
            "proposal_json": json.dumps({"action": proposal.action.value, "qty": str(proposal.qty),
                                         "reason_codes": list(proposal.reason_codes),
                                         "max_qty": str(proposal.max_qty)}),
        }
        try:
            with self.dspy.context(lm=self.lm):
                prediction = await asyncio.wait_for(self.program.acall(**inputs), timeout=self.timeout_s)
        except AdapterParseError as exc:
            raise LlmFailure("llm_parse_error", str(exc).splitlines()[0] if str(exc) else "unparseable") from exc
        except TimeoutError as exc:
            raise LlmFailure("llm_error", f"no answer within {self.timeout_s:g}s") from exc
        except Exception as exc:  # transport, HTTP status, provider: all fail closed the same way
            raise LlmFailure("llm_error", f"{type(exc).__name__}: {exc}") from exc
        return opinion_from(prediction)
