"""The in-process DSPy program: ``torghut_decision_program``'s signature, loaded from a compiled artifact.

Used two ways, chosen by the DSPy runtime gate: as the ``dspy`` transport (``active``: its intent is
the decision) and beside another transport (``shadow``: its verdict is recorded, never acted on).
Any LM failure, timeout or unparseable answer is a hold with a reason, never an exception.

``dspy`` takes seconds to import, so this module is imported only when the gate opens.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before dspy/litellm load: no cost-map download

import asyncio
import math
import time
from decimal import Decimal
from typing import Any

import dspy
import structlog
from dspy.utils.exceptions import AdapterParseError
from torghut_contracts.decision_engine import DecisionRequest
from torghut_contracts.enums import Action
from torghut_contracts.models import DecisionIntent
from torghut_decision_program.program import build_module

from ..domain import reasons
from ..domain.gate import KnownArtifact
from ..domain.jangar_url import openai_api_base
from ..domain.outcome import EngineAnswer, EngineOutcome, Provenance, failure

log = structlog.get_logger("torghut.decision_client.dspy")

TRANSPORT = "dspy"
ENGINE_VERSION = f"dspy-{dspy.__version__}"
PLACEHOLDER_API_KEY = "jangar-internal"


def jangar_lm(*, base_url: str, model: str, api_key: str | None, timeout_s: float, max_tokens: int,
              temperature: float) -> dspy.LM:
    """``dspy.LM`` on Jangar's OpenAI-compatible API (upstream: a placeholder key inside the cluster)."""
    return dspy.LM(f"openai/{model}", api_base=openai_api_base(base_url), api_key=api_key or PLACEHOLDER_API_KEY,
                   timeout=timeout_s, max_tokens=max_tokens, temperature=temperature, cache=False, num_retries=0)


class DspyDecisionProgram:
    """Runs the compiled program on one request; ``mode`` is what provenance reports (active or shadow)."""

    name = TRANSPORT

    def __init__(self, artifact: KnownArtifact, lm: Any, *, timeout_s: float, mode: str = "dspy-active") -> None:
        self.artifact = artifact
        self.lm = lm
        self.timeout_s = timeout_s
        self.mode = mode
        self.module = build_module(artifact.state)  # the compiled state; never an LM from the file

    async def aclose(self) -> None:
        return None

    async def decide(self, request: DecisionRequest) -> EngineOutcome:
        started = time.monotonic()

        def provenance() -> Provenance:
            return Provenance(transport=TRANSPORT, engine_version=ENGINE_VERSION, mode=self.mode,
                              program=self.artifact.program_name, artifact_hash=self.artifact.artifact_hash,
                              latency_ms=int((time.monotonic() - started) * 1000))

        try:
            async with asyncio.timeout(self.timeout_s):
                with dspy.context(lm=self.lm):
                    prediction = await self.module.acall(request_json=request.model_dump_json())
        except TimeoutError:
            return failure(reasons.DSPY_TIMEOUT, f"the DSPy program took longer than {self.timeout_s:g}s",
                           provenance())
        except AdapterParseError as exc:
            return failure(reasons.DSPY_PARSE_ERROR, f"the LM's answer does not fit the signature: {exc}"[:2000],
                           provenance())
        except Exception as exc:  # any LM or program failure must end in a hold, not a crash or a retry storm
            log.warning("DSPy program failed", error=repr(exc), request_id=request.request_id)
            return failure(reasons.DSPY_LM_ERROR, f"{type(exc).__name__}: {exc}"[:2000], provenance())
        try:
            return _answer(prediction, provenance())
        except (ValueError, ArithmeticError, TypeError) as exc:
            return failure(reasons.DSPY_PARSE_ERROR, f"the program's output is not a decision: {exc}"[:2000],
                           provenance())


def _answer(prediction: Any, provenance: Provenance) -> EngineAnswer:
    action = Action(prediction.action)
    qty_raw = float(prediction.qty)
    confidence_raw = float(prediction.confidence)
    if not (math.isfinite(qty_raw) and math.isfinite(confidence_raw)):
        raise ValueError("qty and confidence must be finite")
    if not 0 <= confidence_raw <= 1:
        raise ValueError(f"confidence {confidence_raw} is outside [0, 1]")
    qty = Decimal(0) if action is Action.HOLD else Decimal(str(qty_raw))
    intent = DecisionIntent(action=action, qty=qty)  # raises ValueError (pydantic) for a buy/sell without qty
    rationale = str(prediction.rationale or "").strip()
    flags = [str(flag) for flag in (prediction.risk_flags or [])]
    return EngineAnswer(intent=intent, confidence=Decimal(str(confidence_raw)), provenance=provenance,
                        uncertainty_notes=(f"rationale: {rationale[:1000]}",) if rationale else (),
                        risk_flags=tuple(flags))
