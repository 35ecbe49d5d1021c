"""The advancer: takes runs' slow steps (``steps``) outside the issue-event handler's transaction.

Why: a download (up to ``WHITEPAPER_DOWNLOAD_TIMEOUT_SECONDS``), an upload and an AgentRun
submission (every attempt, with backoff) held the handler's pooled connection, and its lock on the
run, for all that time. Now the handler writes the work and returns; this loop leases the work of
many runs at once (one statement: an owner and a deadline, so one worker at a time has each, and
the runs as they stand), takes their steps side by side with no connection held, and records their
outcomes in groups (``recorder``). Woken by every committed intake, it also looks every ``poll_s``
for work nobody woke it for (another replica's expired lease, a retry): the loop is the runtime's
:class:`~torghut_runtime.leased_work.LeasedWork`, as the decision-client's is.

A lease lasts ``WHITEPAPER_LEASE_SECONDS`` and is renewed every third of that while the run is in
hand (by the loop, or by a request advancing it), so a live worker keeps a run however long a
download or a submission takes, and a dead worker's runs are taken over by another within one
lease. A lease taken by a previous run of this process (same host and pid: a restarted container of
the same pod) is taken back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_runtime.leased_work import LeasedWork, default_owner
from torghut_runtime.outbox import Outbox

from .adapters import work_store
from .adapters.work_store import Leased
from .recorder import StepRecorder
from .steps import RunSteps
from .workflow import Workflow

log = structlog.get_logger("torghut.whitepaper.advancer")
MAX_CONCURRENT_RUNS = 8
"""Runs whose steps are in flight at once in one process by default (``WHITEPAPER_RUNS_IN_FLIGHT``)."""
MAX_RETRY_S = 30.0


class Advancer(LeasedWork):
    def __init__(self, engine: AsyncEngine, workflow: Workflow, outbox: Outbox, *, lease_s: float,
                 retry_backoff_s: float, concurrency: int = MAX_CONCURRENT_RUNS, owner: str | None = None,
                 enabled: Callable[[], bool] = lambda: True) -> None:
        """``enabled``: the workflow switch; while it is off no new step starts (work waits in its rows)."""
        self.engine = engine
        self.outbox = outbox
        self.lease_s = lease_s
        self.retry_backoff_s = retry_backoff_s
        self.concurrency = concurrency
        self.owner = owner or default_owner()
        self.enabled = enabled
        self.renew_every_s = lease_s / 3
        self.recorder = StepRecorder(engine, owner=self.owner, lease_s=lease_s, metrics=workflow.metrics,
                                     clock=workflow.clock, recorded=outbox.wake)
        self.steps = RunSteps(workflow, self.recorder)
        super().__init__()  # the run being advanced, by run id
        self._held: set[str] = set()
        """Runs a request is advancing itself (a manual dispatch)."""
        self._failures: dict[str, int] = {}

    @property
    def in_hand(self) -> int:
        return len(self._in_hand) + len(self._held)

    def leased_keys(self) -> list[str]:
        return [*self._in_hand, *self._held]

    async def renew(self, keys: list[str]) -> None:
        await work_store.renew(self.engine, keys, owner=self.owner, lease_s=self.lease_s)

    async def before_scan(self) -> None:
        """Publish what intake wrote (its lifecycle events, through the outbox's relay)."""
        self.outbox.wake()

    @contextlib.asynccontextmanager
    async def holding(self, run_id: str) -> AsyncIterator[bool]:
        """Keep this process's loop off ``run_id`` while a request advances it; False if it is in hand."""
        if run_id in self._in_hand or run_id in self._held:
            yield False
            return
        self._held.add(run_id)
        try:
            yield True
        finally:
            self._held.discard(run_id)
            self.wake()

    async def start_ready(self) -> None:
        free = self.concurrency - self.in_hand
        if free <= 0 or not self.enabled():
            return
        for leased in await work_store.lease_oldest(self.engine, busy=self.leased_keys(), free=free, owner=self.owner,
                                                    lease_s=self.lease_s):
            run_id = leased.run.run_id
            if run_id in self._held:  # a request took it while the lease was in flight
                continue
            self.start(run_id, self._advance(leased), name=f"advance-{run_id}")

    async def advance(self, run_id: str) -> None:
        """Take the run's steps now, under this process's lease (a manual dispatch holding the run)."""
        for leased in await work_store.lease(self.engine, [run_id], owner=self.owner, lease_s=self.lease_s):
            await self.steps.take(leased)

    async def _advance(self, leased: Leased) -> None:
        run_id = leased.run.run_id
        try:
            await self.steps.take(leased)
            self._failures.pop(run_id, None)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(work_store.release(self.engine, run_id, owner=self.owner))
            raise
        except Exception as exc:  # the database, the object store's client: keep the lease, retry after a pause
            failures = self._failures[run_id] = self._failures.get(run_id, 0) + 1
            log.error("run step failed; retrying", run_id=run_id, attempt=failures, error=repr(exc))
            await asyncio.sleep(min(MAX_RETRY_S, self.retry_backoff_s * 2 ** (failures - 1)))
