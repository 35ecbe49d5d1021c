"""Turning a proposal into the ``decision.final`` payload of the contract."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torghut_contracts.decision_engine import RUNS_PATH, DecisionFinal, DecisionRequest, SkillOutput
from torghut_contracts.models.decision import DecisionIntent, OrderConstraints, SizeRecommendation

from .ids import sha256_hex
from .rules import Proposal
from .skills import SKILL_BUNDLE_VERSION


@dataclass(frozen=True)
class Provenance:
    engine_version: str
    mode: str
    """``deterministic``, ``dspy``, or ``fallback`` (DSPy configured but the LM or its output failed)."""
    program: str
    artifact_hash: str


def artifact_ref(run_id: str, output: SkillOutput) -> str:
    """Where the skill's output can be fetched again, with its content hash."""
    digest = sha256_hex(output.model_dump(mode="json"))
    return f"{RUNS_PATH.format(run_id=run_id)}/artifacts/{output.skill}#sha256={digest}"


def build_final(run_id: str, request: DecisionRequest, proposal: Proposal, skills: Mapping[str, SkillOutput],
                provenance: Provenance) -> DecisionFinal:
    intent = DecisionIntent(action=proposal.action, qty=proposal.qty, order=OrderConstraints(),
                            max_slippage_bps=proposal.max_slippage_bps, adapter_hint=proposal.adapter,
                            adapter_hint_reason=proposal.adapter_reason[:500])
    return DecisionFinal(
        run_id=run_id, request_id=request.request_id, intent=intent, confidence=proposal.confidence,
        uncertainty_notes=list(proposal.uncertainty_notes),
        size_recommendation=SizeRecommendation(max_qty=proposal.max_qty, max_notional=proposal.max_notional),
        artifact_refs={name: artifact_ref(run_id, output) for name, output in skills.items()},
        risk_flags=list(proposal.risk_flags), reason_codes=list(proposal.reason_codes),
        engine_version=provenance.engine_version, mode=provenance.mode, program=provenance.program,
        artifact_hash=provenance.artifact_hash, skill_bundle_version=SKILL_BUNDLE_VERSION)
