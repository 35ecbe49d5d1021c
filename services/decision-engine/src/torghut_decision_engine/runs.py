"""Decision runs: each one an asyncio task of its own, persisted as it goes, bounded by a hard timeout.

A run is not tied to the HTTP connection that asked for it: streams only read its events from
Postgres. Restart policy: runs are **failed, not resumed** (``decision.error`` code
``engine_restarted``). A decision computed after a restart would rest on a trigger and a portfolio
that have aged by the restart, and a caller still waiting gets a definite fail-closed answer. A
graceful shutdown fails its own live runs at once; after a crash the runs' leases expire
(``DECISION_ENGINE_LEASE_TTL_S``) and whichever engine replica sees that fails them. Finished runs
keep their state and events across restarts.

Stages computed back to back (the skill bundle, the rules, the final) are committed together: one
transaction per stretch of work, not per event, since a stream could not tell the difference. Held
events are flushed before anything that lets time pass (a language model call, an injected stall or
sleep), so streams still see progress as it happens; event ids stay 1, 2, 3, ... either way.

A deterministic run without an injected fault (other than ``drop-after``, which only cuts a stream)
lets no time pass at all: it is computed before the run is inserted, and the one statement that
creates the run stores it finished (the run row in its terminal state, every event). Nobody can
observe it half done, and its caller's stream is sent from the events just stored instead of
reading them back. The computation is wasted when the request id already has a run (a repeat), which
is rare and cheap; a computation that raises falls back to a task, which fails the run as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from pydantic import BaseModel
from torghut_contracts.decision_engine import (
    AnalysisComplete,
    ContextReady,
    DecisionError,
    DecisionFinal,
    DecisionRequest,
    RunAccepted,
    RunProgress,
    RunState,
    SkillOutput,
    SseEvent,
)
from torghut_runtime.logs import correlation_id_var

from .adapters.dspy_program import LlmFailure
from .adapters.sse import RunSignals
from .adapters.store import FinishedRun, NewEvent, NewRun, RunRecord, RunStore, StoredEvent
from .domain.config import RuleConfig
from .domain.faults import Fault
from .domain.final import Provenance, build_final
from .domain.ids import run_id_for, sha256_hex
from .domain.rules import LlmOpinion, Proposal, apply_llm_opinion, decide, fall_back
from .domain.skills import SKILL_BUNDLE_VERSION, SkillInputs, run_skill_bundle
from .metrics import RunMetrics

log = structlog.get_logger("torghut.decision_engine.runs")
DETERMINISTIC_PROGRAM = "torghut-deterministic-rules-v1"


class Reviewer(Protocol):
    """The compiled program's second opinion on a request (``adapters.dspy_program.DspyReviewer``)."""

    program_name: str
    artifact_hash: str

    async def review(self, request: DecisionRequest) -> LlmOpinion: ...


@dataclass
class PendingEvents:
    """A run's events computed but not yet committed, and the run state they lead to."""

    events: list[NewEvent] = field(default_factory=list)
    status: RunState | None = None


@dataclass(frozen=True)
class Submission:
    """What :meth:`RunManager.submit` found or made."""

    run: RunRecord
    created: bool
    events: tuple[StoredEvent, ...] | None = None
    """Every event of a run that was created already finished (committed with it): its first stream
    is served from these without reading them back. None when the run is live or not ours."""


@dataclass(frozen=True)
class _AtOnce:
    """A run computed whole before it is created: what the store commits, and the final it ends in."""

    finished: FinishedRun
    final: DecisionFinal


class RunClosed(Exception):
    """The run became terminal elsewhere (a reaper failed it); its task stops writing."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunPolicy:
    run_timeout: timedelta
    lease_ttl: timedelta
    retention: timedelta
    rules: RuleConfig
    required_by_strategy: Callable[[str], frozenset[str]]
    event_clock: bool = False
    """Judge freshness as of the trigger's event time: for replaying a recorded session."""


class RunManager:
    def __init__(self, store: RunStore, signals: RunSignals, policy: RunPolicy, *, engine_version: str,
                 reviewer: Reviewer | None, metrics: RunMetrics, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.signals = signals
        self.policy = policy
        self.engine_version = engine_version
        self.reviewer = reviewer
        self.metrics = metrics
        self.clock = clock
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.pending: dict[str, PendingEvents] = {}
        self.deterministic_hash = sha256_hex({"program": DETERMINISTIC_PROGRAM,
                                              "skill_bundle_version": SKILL_BUNDLE_VERSION})

    @property
    def mode(self) -> str:
        return "dspy" if self.reviewer is not None else "deterministic"

    # -- submission -------------------------------------------------------------------------------
    async def submit(self, request: DecisionRequest, fault: Fault | None) -> Submission:
        """The run for this request id: a new one (started now), or the existing one, never a second."""
        now = self.clock()
        run_id = run_id_for(request.request_id)
        accepted = RunAccepted(run_id=run_id, request_id=request.request_id, status=RunState.ACCEPTED,
                               created_at=now)
        request_json = request.model_dump_json()
        new = NewRun(run_id=run_id, request_id=request.request_id, request_hash=sha256_hex(json.loads(request_json)),
                     request_json=request_json, symbol=request.symbol, strategy_id=request.strategy_id,
                     fault=fault.header_value() if fault else None, deadline_at=now + self.policy.run_timeout)
        done = self._finished_at_once(run_id, request, fault, now)
        accepted_data = accepted.model_dump_json()
        record, created = await self.store.create(new, accepted_data, now,
                                                  finished=done.finished if done is not None else None)
        if created and done is not None:
            self._record_finished(record, request, done)
            events = [NewEvent(SseEvent.ACCEPTED, accepted_data), *done.finished.events]
            return Submission(record, True, tuple(StoredEvent(event_id, new_event.event, new_event.data)
                                                  for event_id, new_event in enumerate(events, start=1)))
        if created:
            self._start(record, request, fault)
        elif record.request_hash != new.request_hash:
            log.warning("request id reused with a different body; returning the existing run",
                        request_id=request.request_id, run_id=record.run_id)
        return Submission(record, created)

    def _finished_at_once(self, run_id: str, request: DecisionRequest, fault: Fault | None,
                          now: datetime) -> _AtOnce | None:
        """The whole run, when nothing in it lets time pass: deterministic mode, no fault that acts on the run.

        ``drop-after`` only cuts the caller's stream, so it still qualifies. None otherwise, and also
        when computing raises: the run then goes the usual way and ends in ``decision.error``
        ``run_failed`` from its task, exactly as before.
        """
        if self.reviewer is not None or (fault is not None and fault.kind != "drop-after"):
            return None
        try:
            events = [self._started_event(run_id)]
            skills, bundle_events = self._skill_stage(run_id, request, now)
            events.extend(bundle_events)
            proposal = decide(request, skills, self._required(request), self.policy.rules)
            events.append(self._deterministic_analysis_event(run_id))
            events.append(self._analysis_complete_event(run_id, proposal))
            final = build_final(run_id, request, proposal, skills, self._deterministic_provenance())
        except Exception:
            log.exception("computing the run at once failed; running it as a task", run_id=run_id)
            return None
        final_data = final.model_dump_json()
        events.append(NewEvent(SseEvent.FINAL, final_data))
        return _AtOnce(FinishedRun(events=tuple(events), status=RunState.FINAL, final=final_data), final)

    def _record_finished(self, record: RunRecord, request: DecisionRequest, done: _AtOnce) -> None:
        self.signals.notify(record.run_id)
        self.metrics.runs.labels(outcome=done.final.intent.action.value).inc()
        self.metrics.seconds.observe(max(0.0, (self.clock() - record.created_at).total_seconds()))
        log.info("run finished", run_id=record.run_id, symbol=request.symbol, correlation_id=request.request_id,
                 action=done.final.intent.action.value, qty=str(done.final.intent.qty), mode=done.final.mode,
                 reason_codes=done.final.reason_codes)

    def _start(self, record: RunRecord, request: DecisionRequest, fault: Fault | None) -> None:
        task = asyncio.create_task(self._execute(record, request, fault), name=f"decision-run:{record.run_id}")
        self.tasks[record.run_id] = task
        self.metrics.live.inc()

        def _done(_: asyncio.Task[None]) -> None:
            self.tasks.pop(record.run_id, None)
            self.metrics.live.dec()

        task.add_done_callback(_done)

    # -- execution --------------------------------------------------------------------------------
    def _hold(self, run_id: str, *events: NewEvent, status: RunState | None = None) -> None:
        """Hold non-terminal events until the next flush: stages computed back to back commit together."""
        pending = self.pending.setdefault(run_id, PendingEvents())
        pending.events.extend(events)
        pending.status = status or pending.status

    async def _flush(self, run_id: str, terminal: NewEvent | None = None, *,
                     status: RunState | None = None) -> None:
        """Commit the held events (and ``terminal`` after them) in one transaction, then wake the streams.

        Called before anything that lets time pass (a language model call, an injected stall or
        sleep), so streams see progress as it happens, and with the terminal event. The held events
        are taken before the write: one that fails is lost, never written twice.
        """
        pending = self.pending.pop(run_id, None) or PendingEvents()
        events = [*pending.events, *([terminal] if terminal is not None else [])]
        if not events:
            return
        last_id = await self.store.append_many(
            run_id, events, self.clock(), status=status or pending.status,
            final=terminal.data if terminal is not None and terminal.event is SseEvent.FINAL else None,
            error=terminal.data if terminal is not None and terminal.event is SseEvent.ERROR else None)
        self.signals.notify(run_id)
        if last_id is None:
            raise RunClosed(run_id)

    async def _finish(self, run_id: str, event: SseEvent, model: BaseModel | str, status: RunState) -> None:
        """Commit the held events and the run's one terminal event."""
        data = model if isinstance(model, str) else model.model_dump_json()
        await self._flush(run_id, NewEvent(event, data), status=status)

    async def _fail(self, run_id: str, code: str, message: str) -> bool:
        error = DecisionError(run_id=run_id, code=code, message=message[:4000])
        try:
            await self._finish(run_id, SseEvent.ERROR, error, RunState.ERROR)
        except RunClosed:
            return False
        except Exception:  # the database is away: the lease expires and the reaper fails the run instead
            log.exception("could not record decision.error", run_id=run_id, code=code)
            return False
        self.metrics.runs.labels(outcome=code).inc()
        log.warning("run ended in decision.error", run_id=run_id, code=code, message=message)
        return True

    async def _execute(self, record: RunRecord, request: DecisionRequest, fault: Fault | None) -> None:
        run_id = record.run_id
        correlation_id_var.set(request.request_id)  # this task's own context: every log line names the trigger
        remaining = max(0.0, (record.deadline_at - self.clock()).total_seconds())
        deadline = asyncio.timeout(remaining)
        try:
            async with deadline:
                await self._pipeline(run_id, request, fault)
        except RunClosed:
            log.info("run closed elsewhere; stopping", run_id=run_id)
        except TimeoutError:
            if deadline.expired():
                await self._fail(run_id, "timeout",
                                 f"run exceeded the hard timeout of {self.policy.run_timeout.total_seconds():g}s")
            else:
                log.exception("run failed", run_id=run_id)
                await self._fail(run_id, "run_failed", "internal timeout while running")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("run failed", run_id=run_id)
            await self._fail(run_id, "run_failed", f"{type(exc).__name__}: {exc}")
        finally:
            self.pending.pop(run_id, None)
            self.metrics.seconds.observe(max(0.0, (self.clock() - record.created_at).total_seconds()))

    # -- the stages, shared by runs finished at once and runs executed as a task --------------------
    def _started_event(self, run_id: str) -> NewEvent:
        return NewEvent(SseEvent.PROGRESS, RunProgress(
            run_id=run_id, stage="started",
            message=f"mode {self.mode}, skill bundle {SKILL_BUNDLE_VERSION}").model_dump_json())

    def _skill_stage(self, run_id: str, request: DecisionRequest,
                     now: datetime) -> tuple[dict[str, SkillOutput], list[NewEvent]]:
        """The skill bundle's outputs, and their events: one progress per skill, then ``context_ready``."""
        as_of = request.trigger.event_ts if self.policy.event_clock else now
        skills = run_skill_bundle(SkillInputs(request=request, now=as_of, config=self.policy.rules))
        events = [NewEvent(SseEvent.PROGRESS, RunProgress(
            run_id=run_id, stage="skill", skill=output.skill,
            message=f"{output.status}, source quality {output.source_quality}").model_dump_json())
            for output in skills.values()]
        events.append(NewEvent(SseEvent.CONTEXT_READY, ContextReady(
            run_id=run_id, skill_bundle_version=SKILL_BUNDLE_VERSION, skills=list(skills.values())).model_dump_json()))
        return skills, events

    def _required(self, request: DecisionRequest) -> frozenset[str]:
        return self.policy.required_by_strategy(request.strategy_id) | frozenset(request.required_domains or ())

    @staticmethod
    def _deterministic_analysis_event(run_id: str) -> NewEvent:
        return NewEvent(SseEvent.PROGRESS, RunProgress(
            run_id=run_id, stage="analysis", message="deterministic rules").model_dump_json())

    @staticmethod
    def _analysis_complete_event(run_id: str, proposal: Proposal) -> NewEvent:
        return NewEvent(SseEvent.ANALYSIS_COMPLETE,
                        AnalysisComplete(run_id=run_id, summary=proposal.summary[:4000]).model_dump_json())

    def _deterministic_provenance(self) -> Provenance:
        return Provenance(self.engine_version, "deterministic", DETERMINISTIC_PROGRAM, self.deterministic_hash)

    async def _pipeline(self, run_id: str, request: DecisionRequest, fault: Fault | None) -> None:
        self._hold(run_id, self._started_event(run_id), status=RunState.RUNNING)
        if fault is not None and fault.kind == "stall":
            await self._flush(run_id)
            await asyncio.Event().wait()  # only heartbeats until the hard timeout
        if fault is not None and fault.kind == "error":
            await self._fail(run_id, "injected", "fault injected by x-torghut-fault: error")
            return

        skills, events = self._skill_stage(run_id, request, self.clock())
        self._hold(run_id, *events)
        proposal = decide(request, skills, self._required(request), self.policy.rules)
        proposal, provenance = await self._review(run_id, request, proposal)
        self._hold(run_id, self._analysis_complete_event(run_id, proposal))

        if fault is not None and fault.kind == "slow":
            await self._flush(run_id)
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "malformed-final":
            malformed = json.dumps({"run_id": run_id, "request_id": request.request_id,
                                    "intent": {"action": "buy", "qty": "-5"}, "confidence": "1.7"})
            await self._finish(run_id, SseEvent.FINAL, malformed, RunState.FINAL)
            self.metrics.runs.labels(outcome="malformed_final").inc()
            return
        final = build_final(run_id, request, proposal, skills, provenance)
        await self._finish(run_id, SseEvent.FINAL, final, RunState.FINAL)
        self.metrics.runs.labels(outcome=final.intent.action.value).inc()
        log.info("run finished", run_id=run_id, symbol=request.symbol, action=final.intent.action.value,
                 qty=str(final.intent.qty), mode=final.mode, reason_codes=final.reason_codes)

    async def _review(self, run_id: str, request: DecisionRequest,
                      proposal: Proposal) -> tuple[Proposal, Provenance]:
        reviewer = self.reviewer
        if reviewer is None:
            self._hold(run_id, self._deterministic_analysis_event(run_id))
            return proposal, self._deterministic_provenance()
        self._hold(run_id, NewEvent(SseEvent.PROGRESS, RunProgress(
            run_id=run_id, stage="analysis",
            message=f"dspy program {reviewer.program_name} {reviewer.artifact_hash[:12]}").model_dump_json()))
        await self._flush(run_id)  # the model takes its time: streams see the stages so far meanwhile
        try:
            opinion = await reviewer.review(request)
        except LlmFailure as failure:
            log.warning("language model review failed; holding", run_id=run_id, code=failure.code,
                        detail=failure.detail)
            return (fall_back(proposal, failure.code, failure.detail),
                    Provenance(self.engine_version, "fallback", reviewer.program_name, reviewer.artifact_hash))
        return (apply_llm_opinion(proposal, opinion, self.policy.rules),
                Provenance(self.engine_version, "dspy", reviewer.program_name, reviewer.artifact_hash))

    # -- upkeep -----------------------------------------------------------------------------------
    async def maintain(self) -> None:
        """Renew this process's leases, fail runs whose owner vanished, purge old runs."""
        interval = self.policy.lease_ttl.total_seconds() / 3
        while True:
            now = self.clock()
            await self.store.renew_leases(list(self.tasks), now)
            for run_id in await self.store.expired_runs(now):
                if run_id not in self.tasks:
                    await self._reap(run_id, now)
            await self.store.purge_finished(now - self.policy.retention)
            await asyncio.sleep(interval)

    async def _reap(self, run_id: str, now: datetime) -> None:
        error = DecisionError(run_id=run_id, code="engine_restarted",
                              message="the engine running this decision stopped before it finished")
        event_id = await self.store.append(run_id, SseEvent.ERROR, error.model_dump_json(), now,
                                           status=RunState.ERROR, error=error.model_dump_json(),
                                           lease_expired_before=now)
        self.signals.notify(run_id)
        if event_id is not None:
            self.metrics.runs.labels(outcome="engine_restarted").inc()
            log.warning("failed a run whose engine stopped", run_id=run_id)

    async def shutdown(self) -> None:
        """Stop every local run and fail it with ``engine_restarted`` (fail closed, never resumed)."""
        tasks = dict(self.tasks)
        for task in tasks.values():
            task.cancel()
        for run_id, task in tasks.items():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                await self._fail(run_id, "engine_restarted", "the engine shut down while this run was in progress")
