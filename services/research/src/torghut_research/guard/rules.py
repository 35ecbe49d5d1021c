"""The guard's two decisions, pure functions over the policy and a candidate's state (research-lane.md §3).

``check_transition`` returns the first reason a transition is refused, in upstream's order, or
``transition_allowed``; ``evaluate_failure`` says retry (with backoff), pause for review or fail.
Decisions are answers, not errors: input that cannot be judged raises :class:`GuardError`.
Differences from upstream: a state without ``candidateId`` is refused (``missing_candidate_id``),
and a previous artifact that is a lane gate report must say the promotion was allowed before a
mutable stage is entered (``previous_gate_report_not_promotable``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{5,62}$")
FAILURE_CLASSES = ("transient", "deterministic", "spec", "policy")


class GuardError(ValueError):
    """Input the guard cannot judge (bad id, unknown stage, malformed state or policy)."""


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stage: str
    lane: str
    mutableAction: bool = False
    requirePreviousArtifact: bool = True
    requirePreviousGatePass: bool = True


class FailurePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    maxRetries: int = Field(default=0, ge=0)
    initialBackoffSeconds: float = Field(default=0, ge=0)
    backoffMultiplier: float = Field(default=1.0, ge=0)
    maxBackoffSeconds: float = Field(default=0, ge=0)
    autopauseAfterFailures: int = Field(default=1, ge=1)


class OrchestrationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schemaVersion: Literal["torghut-v3-orchestration-policy-v1"]
    stages: tuple[Stage, ...]
    transitions: dict[str, tuple[str, ...]]
    failurePolicies: dict[Literal["transient", "deterministic", "spec", "policy"], FailurePolicy]
    controls: dict[str, Any] = Field(default_factory=dict)

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.stage == name), None)


@dataclass(frozen=True)
class Transition:
    candidate_id: str
    run_id: str
    to_stage: str
    from_stage: str | None = None
    previous_artifact: Path | None = None
    previous_gate_passed: bool = False
    risk_controls_passed: bool = False
    execution_controls_passed: bool = False
    mode: Literal["gitops", "emergency"] = "gitops"
    emergency_ticket: str | None = None


def _deny(reason: str, next_action: str = "halt") -> dict[str, Any]:
    return {"allowed": False, "reason": reason, "nextAction": next_action}


def check_transition(policy: OrchestrationPolicy, state: dict[str, Any], request: Transition) -> dict[str, Any]:
    for name, value in (("candidate-id", request.candidate_id), ("run-id", request.run_id)):
        if not _ID.fullmatch(value):
            raise GuardError(f"--{name} {value!r} must match {_ID.pattern}")
    destination = policy.stage(request.to_stage)
    if destination is None:
        raise GuardError(f"--to-stage {request.to_stage!r} is not a stage of the policy")
    if request.from_stage is not None and policy.stage(request.from_stage) is None:
        raise GuardError(f"--from-stage {request.from_stage!r} is not a stage of the policy")
    active = state.get("activeStage")
    if isinstance(active, str) and active and policy.stage(active) is None:
        raise GuardError(f"state activeStage {active!r} is not a stage of the policy")
    active = active if isinstance(active, str) and active else None
    if active is not None and request.from_stage is not None and active != request.from_stage:
        return _deny(f"active_stage_mismatch:{active}")
    state_run = state.get("runId", state.get("run_id"))
    if not state_run:
        return _deny("missing_run_id")
    if state_run != request.run_id:
        return _deny(f"run_mismatch:{state_run}")
    source = request.from_stage or active
    if source is None:
        return _deny("missing_source_stage")
    if request.to_stage not in policy.transitions.get(source, ()):
        return _deny(f"illegal_transition:{source}->{request.to_stage}")
    state_candidate = state.get("candidateId", state.get("candidate_id"))
    if not state_candidate:
        return _deny("missing_candidate_id")
    if state_candidate != request.candidate_id:
        return _deny("candidate_mismatch")
    if state.get("paused") is True:
        return _deny("candidate_paused_for_review", "human_review")
    if destination.requirePreviousArtifact:
        if request.previous_artifact is None or not request.previous_artifact.is_file():
            return _deny("missing_previous_artifact")
        if destination.mutableAction and not _report_allows(request.previous_artifact):
            return _deny("previous_gate_report_not_promotable", "rollback")
    if destination.requirePreviousGatePass and not request.previous_gate_passed:
        return _deny("previous_gate_failed", "rollback")
    if not request.risk_controls_passed:
        return _deny("risk_controls_not_passed", "rollback")
    if not request.execution_controls_passed:
        return _deny("execution_controls_not_passed", "rollback")
    if destination.mutableAction and not (request.mode == "gitops" or request.emergency_ticket):
        return _deny("mutable_action_requires_gitops_or_ticketed_emergency")
    return {"allowed": True, "reason": "transition_allowed", "nextAction": "proceed", "lane": destination.lane,
            "toStage": request.to_stage}


def _report_allows(path: Path) -> bool:
    """A lane gate report gates a mutable stage by its final decision; any other artifact is not read."""
    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return True
    if not isinstance(report, dict) or "promotion_decision" not in report:
        return True
    return bool((report.get("promotion_decision") or {}).get("promotion_allowed"))


def evaluate_failure(policy: OrchestrationPolicy, state: dict[str, Any], *, stage: str, failure_class: str,
                     attempt: int) -> dict[str, Any]:
    if attempt < 1:
        raise GuardError(f"--attempt must be at least 1, got {attempt}")
    if failure_class not in FAILURE_CLASSES:
        raise GuardError(f"--failure-class {failure_class!r} is not one of {', '.join(FAILURE_CLASSES)}")
    if policy.stage(stage) is None:
        raise GuardError(f"--stage {stage!r} is not a stage of the policy")
    rules = policy.failurePolicies.get(failure_class)  # type: ignore[call-overload]
    if rules is None:
        raise GuardError(f"the policy has no failurePolicies.{failure_class}")
    counts = state.get("failureCounts") or {}
    previous = counts.get(stage, 0)
    if not isinstance(previous, int) or isinstance(previous, bool) or previous < 0:
        raise GuardError(f"state failureCounts.{stage} must be a non-negative integer, got {previous!r}")
    failures = previous + 1
    if failure_class == "transient" and attempt <= rules.maxRetries:
        backoff = min(rules.initialBackoffSeconds * rules.backoffMultiplier ** (attempt - 1), rules.maxBackoffSeconds)
        return {"action": "retry", "stage": stage, "attempt": attempt, "nextBackoffSeconds": int(backoff),
                "stageFailures": failures}
    if failures >= rules.autopauseAfterFailures:
        return {"action": "pause_for_review", "stage": stage, "attempt": attempt, "stageFailures": failures,
                "reason": f"{failure_class}_failure_threshold_reached"}
    return {"action": "fail", "stage": stage, "attempt": attempt, "stageFailures": failures,
            "reason": f"{failure_class}_non_retryable"}
