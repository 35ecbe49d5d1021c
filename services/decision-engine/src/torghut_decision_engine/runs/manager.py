"""The run manager: submits runs, executes each as a task within its hard timeout, and reaps or fails
the runs whose engine stopped (fail closed, never resumed)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from torghut_contracts.decision_engine import (
    DecisionError,
    DecisionFinal,
    DecisionRequest,
    RunAccepted,
    RunState,
    SseEvent,
)
from torghut_contracts.enums import Action
from torghut_runtime.logs import correlation_id_var

from ..adapters.dspy_program import LlmFailure
from ..adapters.sse import RunSignals
from ..adapters.store import NewRun, NewRunWithEvents, RunRecord, RunStore, StoredEvent
from ..domain.faults import Fault
from ..domain.final import Provenance, build_final
from ..domain.ids import run_id_for, sha256_hex
from ..domain.rules import Proposal, apply_llm_opinion, decide, fall_back
from ..metrics import RunMetrics
from . import stages
from .journal import RunClosed, RunJournal
from .policy import Reviewer, RunPolicy, utcnow

log = structlog.get_logger("torghut.decision_engine.runs")


@dataclass(frozen=True)
class Submission:
    """What :meth:`RunManager.submit` found or made."""

    run: RunRecord
    created: bool
    events: tuple[StoredEvent, ...] | None = None
    """Every event of a run that was created already finished (committed with it): its first stream
    is served from these without reading them back. None when the run is live or not ours."""
    final: DecisionFinal | None = None
    """The final of a run created already finished (the last of ``events``), as built."""


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
        self.journal = RunJournal(store, signals, metrics, clock)

    @property
    def mode(self) -> str:
        return "dspy" if self.reviewer is not None else "deterministic"

    # -- submission -------------------------------------------------------------------------------
    async def submit(self, request: DecisionRequest, fault: Fault | None) -> Submission:
        """The run for this request id: a new one (started now), or the existing one, never a second."""
        return (await self.submit_many([request], fault))[0]

    async def submit_many(self, requests: Sequence[DecisionRequest], fault: Fault | None) -> list[Submission]:
        """:meth:`submit` for several requests (a batch), created together in one statement."""
        now = self.clock()
        planned = [self._plan(request, fault, now) for request in requests]
        stored = await self.store.create_many([item for item, _ in planned], now)
        return [self._submitted(item, done, request, fault, record, created)
                for (item, done), request, (record, created) in zip(planned, requests, stored, strict=True)]

    def _plan(self, request: DecisionRequest, fault: Fault | None,
              now: datetime) -> tuple[NewRunWithEvents, stages.AtOnce | None]:
        run_id = run_id_for(request.request_id)
        accepted = RunAccepted(run_id=run_id, request_id=request.request_id, status=RunState.ACCEPTED,
                               created_at=now)
        request_json = request.model_dump_json()
        new = NewRun(run_id=run_id, request_id=request.request_id, request_hash=sha256_hex(json.loads(request_json)),
                     request_json=request_json, symbol=request.symbol, strategy_id=request.strategy_id,
                     fault=fault.header_value() if fault else None, deadline_at=now + self.policy.run_timeout)
        done = self._finished_at_once(run_id, request, fault, now)
        return NewRunWithEvents(new, accepted.model_dump_json(), done.finished if done else None), done

    def _submitted(self, item: NewRunWithEvents, done: stages.AtOnce | None, request: DecisionRequest,
                   fault: Fault | None, record: RunRecord, created: bool) -> Submission:
        if created and done is not None:
            self._record_finished(record, request, done)
            return Submission(record, True, tuple(StoredEvent(event_id, new_event.event, new_event.data)
                                                  for event_id, new_event in enumerate(item.events(), start=1)),
                              final=done.final)
        if created:
            self._start(record, request, fault)
        elif record.request_hash != item.new.request_hash:
            log.warning("request id reused with a different body; returning the existing run",
                        request_id=request.request_id, run_id=record.run_id)
        return Submission(record, created)

    def _finished_at_once(self, run_id: str, request: DecisionRequest, fault: Fault | None,
                          now: datetime) -> stages.AtOnce | None:
        """The whole run, when nothing in it lets time pass: no fault that acts on the run, and no review.

        A review is asked only of a proposal to trade (see :meth:`_review`), so in DSPy mode a hold from
        the rules still finishes at once. ``drop-after`` only cuts the caller's stream, so it qualifies.
        None otherwise, and also when computing raises (:func:`.stages.compute_at_once`).
        """
        if fault is not None and fault.kind != "drop-after":
            return None
        return stages.compute_at_once(run_id, request, now, self.policy, self.engine_version,
                                      reviewing=self.reviewer is not None)

    def _record_finished(self, record: RunRecord, request: DecisionRequest, done: stages.AtOnce) -> None:
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
                limit = self.policy.run_timeout.total_seconds()
                await self.journal.fail(run_id, "timeout", f"run exceeded the hard timeout of {limit:g}s")
            else:
                log.exception("run failed", run_id=run_id)
                await self.journal.fail(run_id, "run_failed", "internal timeout while running")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("run failed", run_id=run_id)
            await self.journal.fail(run_id, "run_failed", f"{type(exc).__name__}: {exc}")
        finally:
            self.journal.discard(run_id)
            self.metrics.seconds.observe(max(0.0, (self.clock() - record.created_at).total_seconds()))

    async def _pipeline(self, run_id: str, request: DecisionRequest, fault: Fault | None) -> None:
        journal = self.journal
        journal.hold(run_id, stages.started_event(run_id, self.mode), status=RunState.RUNNING)
        if fault is not None and fault.kind == "stall":
            await journal.flush(run_id)
            await asyncio.Event().wait()  # only heartbeats until the hard timeout
        if fault is not None and fault.kind == "error":
            await journal.fail(run_id, "injected", "fault injected by x-torghut-fault: error")
            return

        skills, events = stages.skill_stage(run_id, request, self.clock(), self.policy)
        journal.hold(run_id, *events)
        proposal = decide(request, skills, self.policy.required(request), self.policy.rules)
        proposal, provenance = await self._review(run_id, request, proposal)
        journal.hold(run_id, stages.analysis_complete_event(run_id, proposal))

        if fault is not None and fault.kind == "slow":
            await journal.flush(run_id)
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "malformed-final":
            malformed = json.dumps({"run_id": run_id, "request_id": request.request_id,
                                    "intent": {"action": "buy", "qty": "-5"}, "confidence": "1.7"})
            await journal.finish(run_id, SseEvent.FINAL, malformed, RunState.FINAL)
            self.metrics.runs.labels(outcome="malformed_final").inc()
            return
        final = build_final(run_id, request, proposal, skills, provenance)
        await journal.finish(run_id, SseEvent.FINAL, final, RunState.FINAL)
        self.metrics.runs.labels(outcome=final.intent.action.value).inc()
        log.info("run finished", run_id=run_id, symbol=request.symbol, action=final.intent.action.value,
                 qty=str(final.intent.qty), mode=final.mode, reason_codes=final.reason_codes)

    async def _review(self, run_id: str, request: DecisionRequest,
                      proposal: Proposal) -> tuple[Proposal, Provenance]:
        reviewer = self.reviewer
        if reviewer is None or proposal.action is Action.HOLD:
            # The model's opinion can only turn a trade into a hold: on a hold it could change nothing,
            # and a small model's seconds are better spent on the proposals that would trade.
            skipped = stages.deterministic_analysis_event(run_id, reviewer_skipped=reviewer is not None)
            self.journal.hold(run_id, skipped)
            return proposal, stages.deterministic_provenance(self.engine_version)
        self.journal.hold(run_id, stages.reviewer_analysis_event(run_id, reviewer))
        await self.journal.flush(run_id)  # the model takes its time: streams see the stages so far meanwhile
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
                await self.journal.fail(run_id, "engine_restarted",
                                        "the engine shut down while this run was in progress")
