"""The engine's events and run states, read into outcomes: a final answer, an error, or not yet."""

from __future__ import annotations

import json

import structlog
from httpx_sse import ServerSentEvent
from pydantic import ValidationError
from torghut_contracts.decision_engine import (
    DecisionError,
    DecisionFinal,
    RunAccepted,
    RunState,
    RunStatus,
    SseEvent,
)

from ..domain import reasons
from ..domain.outcome import EngineFailure, EngineOutcome, answer_from_final, failure
from .engine_run import TRANSPORT, _Retryable, _Run

log = structlog.get_logger("torghut.decision_client.engine")

TIMEOUT_ERROR_CODES = frozenset({"timeout", "run_timeout", "deadline_exceeded"})
_PROGRESS_EVENTS = frozenset({SseEvent.ACCEPTED, SseEvent.PROGRESS, SseEvent.CONTEXT_READY,
                              SseEvent.ANALYSIS_COMPLETE})

SHUTTING_DOWN = "shutting_down"


def _on_event(run: _Run, sse: ServerSentEvent) -> EngineOutcome | None:
    if sse.event == SseEvent.ACCEPTED:
        run_id = _run_id_of(sse.data)
        if run_id:
            run.run_id = run_id
        return None
    if sse.event == SseEvent.FINAL:
        return _final(run, sse.data)
    if sse.event == SseEvent.ERROR:
        return _error(run, sse.data)
    if sse.event not in _PROGRESS_EVENTS:
        log.info("ignoring an unknown decision event", event_name=sse.event, run_id=run.run_id)
    return None


def _final(run: _Run, data: str | DecisionFinal) -> EngineOutcome:
    try:
        final = data if isinstance(data, DecisionFinal) else DecisionFinal.model_validate_json(data)
    except ValidationError as exc:
        return failure(reasons.ENGINE_MALFORMED_FINAL, f"decision.final does not validate: {_summary(exc)}",
                       run.provenance())
    if final.request_id != run.request.request_id:
        return failure(reasons.ENGINE_MALFORMED_FINAL,
                       f"decision.final is for request {final.request_id}, not {run.request.request_id}",
                       run.provenance())
    return answer_from_final(final, transport=TRANSPORT, run_id=run.run_id or final.run_id,
                             latency_ms=run.latency_ms())


def _error(run: _Run, data: str | DecisionError | None) -> EngineFailure:
    try:
        error = data if isinstance(data, DecisionError) else DecisionError.model_validate_json(data or "")
    except ValidationError:
        return failure(reasons.ENGINE_ERROR, f"decision.error with an unreadable payload: {str(data)[:300]}",
                       run.provenance())
    if error.retryable and error.code == SHUTTING_DOWN:
        # The engine ended the stream, not the run: resume it (through the service, another replica).
        raise _Retryable(f"engine error {error.code}: {error.message}"[:500])
    code = reasons.ENGINE_TIMEOUT if error.code in TIMEOUT_ERROR_CODES else reasons.ENGINE_ERROR
    return failure(code, f"engine error {error.code}: {error.message}"[:2000], run.provenance())


def _terminal(run: _Run, status: RunStatus) -> EngineOutcome | None:
    if status.status is RunState.FINAL:
        if status.final is None:
            return failure(reasons.ENGINE_MALFORMED_FINAL, "run is final but carries no final payload",
                           run.provenance())
        return _final(run, status.final)
    if status.status is RunState.ERROR:
        return _error(run, status.error)
    return None


def _run_id_of(data: str) -> str | None:
    try:
        return RunAccepted.model_validate_json(data).run_id
    except ValidationError:
        try:
            raw = json.loads(data)
        except ValueError:
            return None
        value = raw.get("run_id") if isinstance(raw, dict) else None
        return value if isinstance(value, str) and value else None


def _summary(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])
