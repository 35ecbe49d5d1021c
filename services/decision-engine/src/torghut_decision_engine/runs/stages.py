"""The events each stage of a run produces, and a deterministic run computed whole before it is created.

Shared by runs finished at once and runs executed as a task, so both emit the same events in the
same order; nothing here touches the store or lets time pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from torghut_contracts.decision_engine import (
    AnalysisComplete,
    ContextReady,
    DecisionFinal,
    DecisionRequest,
    RunProgress,
    RunState,
    SkillOutput,
    SseEvent,
)
from torghut_contracts.enums import Action

from ..adapters.store import FinishedRun, NewEvent
from ..domain.final import Provenance, build_final
from ..domain.ids import sha256_hex
from ..domain.rules import Proposal, decide
from ..domain.skills import SKILL_BUNDLE_VERSION, SkillInputs, run_skill_bundle
from .policy import Reviewer, RunPolicy

log = structlog.get_logger("torghut.decision_engine.runs")
DETERMINISTIC_PROGRAM = "torghut-deterministic-rules-v1"
DETERMINISTIC_HASH = sha256_hex({"program": DETERMINISTIC_PROGRAM, "skill_bundle_version": SKILL_BUNDLE_VERSION})


@dataclass(frozen=True)
class AtOnce:
    """A run computed whole before it is created: what the store commits, and the final it ends in."""

    finished: FinishedRun
    final: DecisionFinal


def started_event(run_id: str, mode: str) -> NewEvent:
    return NewEvent(SseEvent.PROGRESS, RunProgress(
        run_id=run_id, stage="started",
        message=f"mode {mode}, skill bundle {SKILL_BUNDLE_VERSION}").model_dump_json())


def skill_stage(run_id: str, request: DecisionRequest, now: datetime,
                policy: RunPolicy) -> tuple[dict[str, SkillOutput], list[NewEvent]]:
    """The skill bundle's outputs, and their events: one progress per skill, then ``context_ready``."""
    as_of = request.trigger.event_ts if policy.event_clock else now
    skills = run_skill_bundle(SkillInputs(request=request, now=as_of, config=policy.rules))
    events = [NewEvent(SseEvent.PROGRESS, RunProgress(
        run_id=run_id, stage="skill", skill=output.skill,
        message=f"{output.status}, source quality {output.source_quality}").model_dump_json())
        for output in skills.values()]
    events.append(NewEvent(SseEvent.CONTEXT_READY, ContextReady(
        run_id=run_id, skill_bundle_version=SKILL_BUNDLE_VERSION, skills=list(skills.values())).model_dump_json()))
    return skills, events


def deterministic_analysis_event(run_id: str, *, reviewer_skipped: bool = False) -> NewEvent:
    message = ("deterministic rules; they hold, so the dspy program is not asked (its review can only veto)"
               if reviewer_skipped else "deterministic rules")
    return NewEvent(SseEvent.PROGRESS, RunProgress(run_id=run_id, stage="analysis", message=message).model_dump_json())


def reviewer_analysis_event(run_id: str, reviewer: Reviewer) -> NewEvent:
    return NewEvent(SseEvent.PROGRESS, RunProgress(
        run_id=run_id, stage="analysis",
        message=f"dspy program {reviewer.program_name} {reviewer.artifact_hash[:12]}").model_dump_json())


def analysis_complete_event(run_id: str, proposal: Proposal) -> NewEvent:
    return NewEvent(SseEvent.ANALYSIS_COMPLETE,
                    AnalysisComplete(run_id=run_id, summary=proposal.summary[:4000]).model_dump_json())


def deterministic_provenance(engine_version: str) -> Provenance:
    return Provenance(engine_version, "deterministic", DETERMINISTIC_PROGRAM, DETERMINISTIC_HASH)


def compute_at_once(run_id: str, request: DecisionRequest, now: datetime, policy: RunPolicy,
                    engine_version: str, *, reviewing: bool = False) -> AtOnce | None:
    """The whole deterministic run, or None when it cannot be computed at once.

    ``reviewing`` (DSPy mode): a proposal to trade waits for the model's review, so only a hold from
    the rules is computed here. When computing raises, the run goes the usual way and ends in
    ``decision.error`` ``run_failed`` from its task, exactly as before.
    """
    try:
        events = [started_event(run_id, "dspy" if reviewing else "deterministic")]
        skills, bundle_events = skill_stage(run_id, request, now, policy)
        events.extend(bundle_events)
        proposal = decide(request, skills, policy.required(request), policy.rules)
        if reviewing and proposal.action is not Action.HOLD:
            return None
        events.append(deterministic_analysis_event(run_id, reviewer_skipped=reviewing))
        events.append(analysis_complete_event(run_id, proposal))
        final = build_final(run_id, request, proposal, skills, deterministic_provenance(engine_version))
    except Exception:
        log.exception("computing the run at once failed; running it as a task", run_id=run_id)
        return None
    final_data = final.model_dump_json()
    events.append(NewEvent(SseEvent.FINAL, final_data))
    return AtOnce(FinishedRun(events=tuple(events), status=RunState.FINAL, final=final_data), final)
