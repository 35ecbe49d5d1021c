"""The run's journey, driven by the status machine: intake, requeue, manual dispatch, finalize.

The Kafka handler (``handlers.IssueEventHandler``) does only what needs no network: intake (or a
requeue) writes the run, its lifecycle events and the slow step it now waits for
(``whitepaper_run_work``) in the runtime's transaction, with the "message processed" mark, and
returns. The slow steps (download and store, AgentRun dispatch) are taken afterwards by the
advancer, each with no connection held (``steps``). A redelivered message then changes nothing,
and the work row survives a crash.

Every lifecycle event goes through the outbox (``published_at``), published after its commit, so
a run's events reach the topic in the order they happened whoever wrote them. The control API's
writes (dispatch, finalize) commit their own short transactions the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from torghut_contracts.enums import WhitepaperRunStatus as Status
from torghut_contracts.models import GithubIssueEvent, WhitepaperRunEvent
from torghut_runtime import after_commit

from .adapters import run_store, work_store
from .adapters.agentrun_client import AgentRunClient
from .adapters.intake_batch import IntakeBatch
from .adapters.object_store import ObjectStore
from .adapters.pdf_fetcher import PdfFetcher
from .adapters.work_store import Work
from .domain import agentrun
from .domain.finalize import FinalizePayload
from .domain.intake import IntakeRules, Rejected, interpret
from .domain.run import Run
from .domain.status import IllegalTransition, RequeueOutcome, check_transition, requeue_outcome
from .domain.work import Step, first_step
from .metrics import WhitepaperMetrics


class RunHolder(Protocol):
    """What the workflow needs of the advancer (:class:`~.advancer.Advancer`): to wake it for new work,
    and, for a manual dispatch, to keep its loop off a run while the request advances it itself."""

    owner: str
    lease_s: float

    def wake(self) -> None: ...

    def holding(self, run_id: str) -> AbstractAsyncContextManager[bool]: ...

    async def advance(self, run_id: str) -> None: ...

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
        self.advancer: RunHolder | None = None
        """Takes the slow steps; set by the app (a manual dispatch runs them through it)."""

    @property
    def auto_dispatch(self) -> bool:
        """Fixed, or read per event from a source (the feature flag)."""
        return self._auto_dispatch if isinstance(self._auto_dispatch, bool) else self._auto_dispatch()

    # -- intake -----------------------------------------------------------------------------------
    async def ingest(self, conn: AsyncConnection, event: GithubIssueEvent, *, cause: str,
                     batch: IntakeBatch) -> IntakeOutcome:
        """One issue event: a new run, a requeue of a failed one, or nothing (and why).

        ``batch``: the handler's group, whose runs were read at once and whose new runs are written at its
        flush (the runtime calls it before the messages are marked processed)."""
        decision = interpret(event, self.rules)
        if isinstance(decision, Rejected):
            self._count_intake(decision.reason)
            return IntakeOutcome(False, decision.reason)
        run = await batch.run(conn, decision.run_id)
        if run is None:
            source = "github_issue_comment_kafka" if decision.is_comment else "github_issue_kafka"
            new = run_store.new_run(decision, event, trigger_source=source, cause=cause, now=self.clock(),
                                    published=False)
            # a new run has no PDF yet: it waits for the download, whether or not a dispatch follows
            batch.create(new, Work(new.run.run_id, Step.STORE_PDF, self.auto_dispatch, None, cause))
            after_commit(self.metrics.transitions.labels(status=Status.RECEIVED.value).inc)
            self._count_intake("accepted")
            return IntakeOutcome(True, "accepted", new.run.run_id, new.run.status, (new.event,))
        if not decision.is_comment:
            self._count_intake("idempotent_replay")
            return IntakeOutcome(True, "idempotent_replay", run.run_id, run.status)
        outcome = requeue_outcome(run.status)
        self._count_intake(outcome.value)
        if outcome is not RequeueOutcome.REQUEUE:
            return IntakeOutcome(outcome is RequeueOutcome.IN_PROGRESS, outcome.value, run.run_id, run.status)
        run, events = await self.requeue(conn, run, cause=cause, dispatch=self.auto_dispatch)
        batch.learn(run)
        return IntakeOutcome(True, outcome.value, run.run_id, run.status, tuple(events))

    def run_ids(self, events: Sequence[GithubIssueEvent]) -> list[str]:
        """The runs a group of issue events names: what the handler reads at once."""
        return [decision.run_id for event in events
                if not isinstance(decision := interpret(event, self.rules), Rejected)]

    def _count_intake(self, reason: str) -> None:
        """Counted once the handler's transaction commits: a group of issue events rolled back (one of
        them a redelivery) is taken again, and must not count twice."""
        after_commit(self.metrics.intake.labels(reason=reason).inc)

    # -- status changes ---------------------------------------------------------------------------
    async def _move(self, conn: AsyncConnection, run: Run, target: Status, *, reason: str | None, cause: str,
                    **columns: Any) -> tuple[Run, WhitepaperRunEvent]:
        run, event = await run_store.transition(conn, run, target, reason=reason, cause=cause, now=self.clock(),
                                                published=False, **columns)
        after_commit(self.metrics.transitions.labels(status=target.value).inc)
        return run, event

    async def requeue(self, conn: AsyncConnection, run: Run, *, cause: str, dispatch: bool) -> tuple[Run, Events]:
        """A failed run starts over from ``received``; a PDF already stored is not fetched again. Work
        left by the attempt that failed (a dispatch claimed when a finalize failed the run) goes: the new
        attempt is a new generation."""
        await work_store.finish(conn, run.run_id)
        run, event = await self._move(conn, run, Status.RECEIVED, reason=f"requeued after: {run.status_reason}",
                                      cause=cause)
        run, more = await self.advance(conn, run, cause=cause, dispatch=dispatch)
        return run, [event, *more]

    async def advance(self, conn: AsyncConnection, run: Run, *, cause: str, dispatch: bool) -> tuple[Run, Events]:
        """What needs no network, in ``conn``: a run whose PDF is stored already moves on to
        ``pdf_stored``; the slow step it then waits for, if any, is written for the advancer."""
        events: Events = []
        if run.status is Status.RECEIVED and run.pdf_stored:
            run, event = await self._move(conn, run, Status.PDF_STORED, reason="pdf already stored", cause=cause)
            events.append(event)
        step = first_step(run.status, dispatch=dispatch)
        if step is not None:
            await work_store.add(conn, run.run_id, step, then_dispatch=dispatch, cause=cause)
        return run, events

    # -- control API ----------------------------------------------------------------------------
    async def dispatch_run(self, engine: AsyncEngine, run_id: str) -> DispatchResult:
        """Dispatch a stored run now, or restart a failed one; a live run is left as it is (idempotent).

        The checks, the requeue and the work row commit first, the work leased to this process; the
        slow steps then run here, with no connection held, and the answer is the run they left."""
        cause = "api:dispatch-agentrun"
        advancer = self.advancer
        assert advancer is not None, "the app sets the advancer"
        async with advancer.holding(run_id) as held:
            if not held:
                raise DispatchRefused("dispatch_in_progress")
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
                events: Events = []
                if run.status is Status.FAILED:
                    run, events = await self.requeue(conn, run, cause=cause, dispatch=True)
                else:
                    await work_store.add(conn, run_id, Step.DISPATCH, then_dispatch=True, cause=cause)
                if not await work_store.take(conn, [run_id], owner=advancer.owner, lease_s=advancer.lease_s):
                    raise DispatchRefused("dispatch_in_progress")  # another replica's worker has it
            await advancer.advance(run_id)
            async with engine.connect() as conn:
                final = await run_store.get(conn, run_id)
        assert final is not None
        return DispatchResult(final, idempotent=False, events=tuple(events))

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
            run, _ = await self._move(conn, run, target, reason=payload.reason, cause="api:finalize", **columns)
        return FinalizeResult(run, changed=True)
