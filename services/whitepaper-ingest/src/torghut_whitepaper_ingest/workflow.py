"""The run's journey, driven by the status machine: intake, PDF, AgentRun, requeue, finalize.

The Kafka handler runs intake and every step it can take at once (download, store, dispatch) inside
the runtime's transaction, so the run's rows, its lifecycle events and the "message processed" mark
commit together, and the events are published by the runtime after that commit. A redelivery then
changes nothing; a crash before the commit repeats the steps, which is safe: the object key is the
PDF's hash and the AgentRun carries the run's idempotency key.

The control API's writes (dispatch, finalize) commit their own transaction and hand the events to
the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from torghut_contracts import topics
from torghut_contracts.enums import WhitepaperRunStatus as Status
from torghut_contracts.models import GithubIssueEvent, WhitepaperRunEvent
from torghut_runtime import Inbound, Outgoing

from .adapters import run_store
from .adapters.agentrun_client import AgentRunClient, AgentRunDispatchFailed
from .adapters.object_store import ObjectStore, ObjectStoreError
from .adapters.pdf_fetcher import PdfFetcher
from .domain import agentrun, ids
from .domain.finalize import FinalizePayload
from .domain.intake import IntakeRules, Rejected, interpret
from .domain.pdf import DownloadRefused
from .domain.run import Run
from .domain.status import IllegalTransition, RequeueOutcome, check_transition, requeue_outcome
from .metrics import WhitepaperMetrics

log = structlog.get_logger("torghut.whitepaper.workflow")
Events = list[WhitepaperRunEvent]


@dataclass(frozen=True)
class IntakeOutcome:
    accepted: bool
    reason: str
    run_id: str | None = None
    status: Status | None = None
    events: tuple[WhitepaperRunEvent, ...] = ()


@dataclass(frozen=True)
class DispatchResult:
    run: Run
    idempotent: bool
    events: tuple[WhitepaperRunEvent, ...] = ()


@dataclass(frozen=True)
class FinalizeResult:
    run: Run
    changed: bool


class RunNotFound(LookupError):
    pass


class DispatchRefused(Exception):
    """The run is not in a state a dispatch can start from; ``code`` is the reason given to the caller."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Workflow:
    def __init__(self, *, rules: IntakeRules, fetcher: PdfFetcher, objects: ObjectStore, agentruns: AgentRunClient,
                 agentrun_config: agentrun.AgentRunConfig, auto_dispatch: bool | Callable[[], bool],
                 metrics: WhitepaperMetrics,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.rules = rules
        self.fetcher = fetcher
        self.objects = objects
        self.agentruns = agentruns
        self.agentrun_config = agentrun_config
        self._auto_dispatch = auto_dispatch
        self.metrics = metrics
        self.clock = clock

    @property
    def auto_dispatch(self) -> bool:
        """Fixed, or read per event from a source (the feature flag)."""
        return self._auto_dispatch if isinstance(self._auto_dispatch, bool) else self._auto_dispatch()

    # -- Kafka ----------------------------------------------------------------------------------
    async def on_issue_event(self, inbound: Inbound[GithubIssueEvent], conn: AsyncConnection) -> list[Outgoing]:
        """Handler of ``torghut.github.issue-events.v1``: effects in ``conn``, events returned for publishing."""
        event = inbound.payload
        outcome = await self.ingest(conn, event, cause=f"delivery:{event.delivery_id}", published=True)
        log.info("issue event handled", delivery_id=event.delivery_id, repository=event.repository,
                 issue_number=event.issue_number, github_event=event.event, action=event.action,
                 accepted=outcome.accepted, reason=outcome.reason, run_id=outcome.run_id,
                 status=outcome.status.value if outcome.status else None)
        return [Outgoing(topics.WHITEPAPER_RUNS, e, key=e.run_id, discriminator=e.event_id, correlation_id=e.run_id)
                for e in outcome.events]

    async def ingest(self, conn: AsyncConnection, event: GithubIssueEvent, *, cause: str,
                     published: bool) -> IntakeOutcome:
        """One issue event: a new run, a requeue of a failed one, or nothing (and why)."""
        decision = interpret(event, self.rules)
        if isinstance(decision, Rejected):
            self.metrics.intake.labels(reason=decision.reason).inc()
            return IntakeOutcome(False, decision.reason)
        run = await run_store.get(conn, decision.run_id, lock=True)
        if run is None:
            source = "github_issue_comment_kafka" if decision.is_comment else "github_issue_kafka"
            run, created = await run_store.create(conn, decision, event, trigger_source=source, cause=cause,
                                                  now=self.clock(), published=published)
            self.metrics.transitions.labels(status=Status.RECEIVED.value).inc()
            run, more = await self.advance(conn, run, cause=cause, published=published, dispatch=self.auto_dispatch)
            self.metrics.intake.labels(reason="accepted").inc()
            return IntakeOutcome(True, "accepted", run.run_id, run.status, (created, *more))
        if not decision.is_comment:
            self.metrics.intake.labels(reason="idempotent_replay").inc()
            return IntakeOutcome(True, "idempotent_replay", run.run_id, run.status)
        outcome = requeue_outcome(run.status)
        self.metrics.intake.labels(reason=outcome.value).inc()
        if outcome is not RequeueOutcome.REQUEUE:
            return IntakeOutcome(outcome is RequeueOutcome.IN_PROGRESS, outcome.value, run.run_id, run.status)
        run, events = await self.requeue(conn, run, cause=cause, published=published, dispatch=self.auto_dispatch)
        return IntakeOutcome(True, outcome.value, run.run_id, run.status, tuple(events))

    # -- steps ----------------------------------------------------------------------------------
    async def _move(self, conn: AsyncConnection, run: Run, target: Status, *, reason: str | None, cause: str,
                    published: bool, **columns: Any) -> tuple[Run, WhitepaperRunEvent]:
        run, event = await run_store.transition(conn, run, target, reason=reason, cause=cause, now=self.clock(),
                                                published=published, **columns)
        self.metrics.transitions.labels(status=target.value).inc()
        return run, event

    async def requeue(self, conn: AsyncConnection, run: Run, *, cause: str, published: bool,
                      dispatch: bool) -> tuple[Run, Events]:
        """A failed run starts over from ``received``; a PDF already stored is not fetched again."""
        run, event = await self._move(conn, run, Status.RECEIVED, reason=f"requeued after: {run.status_reason}",
                                      cause=cause, published=published)
        run, more = await self.advance(conn, run, cause=cause, published=published, dispatch=dispatch)
        return run, [event, *more]

    async def advance(self, conn: AsyncConnection, run: Run, *, cause: str, published: bool,
                      dispatch: bool) -> tuple[Run, Events]:
        events: Events = []
        if run.status is Status.RECEIVED:
            run, event = await self._store_pdf(conn, run, cause=cause, published=published)
            events.append(event)
        if run.status is Status.PDF_STORED and dispatch:
            run, more = await self._dispatch(conn, run, cause=cause, published=published)
            events += more
        return run, events

    async def _store_pdf(self, conn: AsyncConnection, run: Run, *, cause: str,
                         published: bool) -> tuple[Run, WhitepaperRunEvent]:
        if run.pdf_stored:
            return await self._move(conn, run, Status.PDF_STORED, reason="pdf already stored", cause=cause,
                                    published=published)
        try:
            pdf = await self.fetcher.fetch(run.pdf_url)
        except DownloadRefused as exc:
            log.warning("pdf download refused", run_id=run.run_id, url=run.pdf_url, reason=exc.reason,
                        detail=exc.detail)
            return await self._move(conn, run, Status.FAILED, reason=exc.reason, cause=cause, published=published)
        key = ids.object_key(pdf.sha256)
        try:
            stored = await self.objects.put(key, pdf.data, pdf.content_type)
        except ObjectStoreError as exc:
            log.warning("pdf upload failed", run_id=run.run_id, key=key, reason=exc.reason)
            return await self._move(conn, run, Status.FAILED, reason=exc.reason, cause=cause, published=published)
        return await self._move(conn, run, Status.PDF_STORED, reason=None, cause=cause, published=published,
                                pdf_sha256=pdf.sha256, pdf_size_bytes=pdf.size, pdf_content_type=pdf.content_type,
                                object_key=stored.key, object_uri=stored.uri)

    async def _dispatch(self, conn: AsyncConnection, run: Run, *, cause: str, published: bool) -> tuple[Run, Events]:
        generation = run.generation + 1
        body = agentrun.request_body(run, self.agentrun_config, generation)
        key = str(body["idempotencyKey"])
        facts: dict[str, Any] = {"dispatch_generation": generation, "agentrun_idempotency_key": key,
                                 "agentrun_prompt_hash": ids.prompt_hash(body["implementation"]["text"])}
        try:
            accepted = await self.agentruns.submit(body, key)
        except AgentRunDispatchFailed as exc:
            run, failed = await self._move(conn, run, Status.FAILED, reason=exc.reason, cause=cause,
                                           published=published, dispatch_attempts=exc.attempts, **facts)
            return run, [failed]
        run, dispatched = await self._move(
            conn, run, Status.DISPATCHED, reason=None, cause=cause, published=published,
            agentrun_name=accepted.name, agentrun_uid=accepted.uid, agentrun_phase=accepted.phase,
            dispatch_attempts=accepted.attempts, dispatched_at=self.clock(), **facts)
        if accepted.phase.lower() != "running":
            return run, [dispatched]
        run, running = await self._move(conn, run, Status.RUNNING, reason=None, cause=cause, published=published)
        return run, [dispatched, running]

    # -- control API ----------------------------------------------------------------------------
    async def dispatch_run(self, engine: AsyncEngine, run_id: str) -> DispatchResult:
        """Dispatch a stored run now, or restart a failed one; a live run is left as it is (idempotent)."""
        cause = "api:dispatch-agentrun"
        async with engine.begin() as conn:
            run = await run_store.get(conn, run_id, lock=True)
            if run is None:
                raise RunNotFound(run_id)
            if run.status in (Status.DISPATCHED, Status.RUNNING):
                return DispatchResult(run, idempotent=True)
            if run.status is Status.FINALIZED:
                raise DispatchRefused("already_finalized")
            if run.status is Status.RECEIVED:
                raise DispatchRefused("pdf_not_stored")
            if run.status is Status.FAILED:
                run, events = await self.requeue(conn, run, cause=cause, published=False, dispatch=True)
            else:
                run, events = await self._dispatch(conn, run, cause=cause, published=False)
        return DispatchResult(run, idempotent=False, events=tuple(events))

    async def finalize_run(self, engine: AsyncEngine, run_id: str, payload: FinalizePayload,
                           raw: dict[str, Any]) -> FinalizeResult:
        """Record the AgentRun's outcome; the same report twice changes nothing the second time.

        Raises ``IllegalTransition`` when the run cannot take this outcome (e.g. it was never dispatched,
        or it is already finalized with a different report).
        """
        async with engine.begin() as conn:
            run = await run_store.get(conn, run_id, lock=True)
            if run is None:
                raise RunNotFound(run_id)
            target = payload.target_status
            now = self.clock()
            if run.status is target and await run_store.result_sha256(conn, run_id) == run_store.payload_sha256(raw):
                return FinalizeResult(run, changed=False)
            if run.status is Status.FAILED and target is Status.FAILED:
                await run_store.save_result(conn, run_id, payload, raw, now)
                await run_store.update_columns(conn, run_id, now, status_reason=payload.reason)
                return FinalizeResult(run, changed=False)
            if run.status is Status.FAILED and run.generation == 0:
                raise IllegalTransition(run.status, target)  # never dispatched: no AgentRun can report on it
            check_transition(run.status, target)
            await run_store.save_result(conn, run_id, payload, raw, now)
            columns: dict[str, Any] = {"finalized_at": now} if target is Status.FINALIZED else {}
            run, _ = await self._move(conn, run, target, reason=payload.reason, cause="api:finalize",
                                      published=False, **columns)
        return FinalizeResult(run, changed=True)
