"""Group commit of step outcomes: one short transaction records the outcomes of many runs' calls.

Each run's task hands the outcome of its call (a paper stored, a submission answered) to
:meth:`StepRecorder.record` and waits. Whichever task finds the recorder free takes every outcome
queued by then and records them together, in one transaction of a few statements whatever their
number: lock the runs with their work (one ``SELECT ... FOR UPDATE``), update the runs (one pipelined
``executemany`` per set of columns), insert their lifecycle events (one statement), finish or advance
their work (one statement each). Under load the groups grow by themselves (calls finish while a group
is being recorded); a lone outcome is recorded at once.

The same transaction claims the dispatch that follows a stored paper (``domain.outcomes``), so the
task goes straight from the upload to the submission. Nothing here runs while a call is in flight,
and no connection is held across one.

The queue is the runtime's :class:`~torghut_runtime.group_commit.GroupRecorder`: a group that fails is
recorded again one outcome at a time, so one that cannot be recorded fails only its own run's task
(which retries after a pause, its lease kept), not its neighbours'. The events reach the topic
through the outbox, woken once per group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from torghut_contracts.enums import WhitepaperRunStatus as Status
from torghut_runtime.group_commit import GroupRecorder

from .adapters import run_store, work_store
from .adapters.work_store import Leased, Work
from .domain.outcomes import Current, Outcome, Recording, WorkChange
from .domain.work import Step
from .metrics import WhitepaperMetrics

log = structlog.get_logger("torghut.whitepaper.recorder")


@dataclass(frozen=True)
class Queued:
    outcome: Outcome
    cause: str
    """The work's cause, written on the events."""


@dataclass
class GroupWrites:
    """What a group's outcomes change, gathered in memory and written in a few statements."""

    owner: str
    at: datetime
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    dispatch_next: dict[str, int | None] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)

    def apply(self, now: Current, recording: Recording, cause: str) -> Leased | None:
        """Add one run's recording; the dispatch this worker takes next, if it claimed one."""
        run = now.run
        for move in recording.moves:
            moved = run_store.move(run, move.target, reason=move.reason, cause=cause, now=self.at, published=False,
                                   **move.columns)
            run = moved.run
            self.runs[run.run_id] = {**self.runs.get(run.run_id, {}), **moved.values}
            self.events.append(moved.event_row)
            self.statuses.append(move.target)
        if recording.work is WorkChange.FINISH:
            self.finished.append(run.run_id)
        elif recording.work is WorkChange.DISPATCH:
            self.dispatch_next[run.run_id] = recording.generation
        if recording.generation is None:
            return None
        return Leased(Work(run.run_id, Step.DISPATCH, now.then_dispatch, recording.generation, cause), run)

    async def write(self, conn: AsyncConnection, *, lease_s: float) -> None:
        await run_store.write_moves(conn, self.runs, self.events)
        await work_store.finish_many(conn, self.finished)
        await work_store.dispatch_next(conn, self.dispatch_next, owner=self.owner, lease_s=lease_s)


class StepRecorder:
    def __init__(self, engine: AsyncEngine, *, owner: str, lease_s: float, metrics: WhitepaperMetrics,
                 clock: Callable[[], datetime], recorded: Callable[[], None]) -> None:
        """``recorded``: called after each committed group (wakes the outbox, which publishes its events)."""
        self.engine = engine
        self.owner = owner
        self.lease_s = lease_s
        self.metrics = metrics
        self.clock = clock
        self.recorded = recorded
        self._group: GroupRecorder[Queued, Leased | None] = GroupRecorder(self._record)

    async def record(self, outcome: Outcome, *, cause: str) -> Leased | None:
        """Record ``outcome`` with whatever else is queued; the dispatch to submit next, if one was claimed.
        Raises if it was not recorded."""
        return await self._group.record(Queued(outcome, cause))

    async def _record(self, group: list[Queued]) -> list[Leased | None]:
        """One transaction for the group; what each outcome's task does next, in the group's order."""
        async with self.engine.begin() as conn:
            current = await work_store.lock_for_outcomes(conn, sorted({q.outcome.run_id for q in group}),
                                                         owner=self.owner)
            writes = GroupWrites(self.owner, self.clock())
            results = [self._apply(writes, current, item) for item in group]
            await writes.write(conn, lease_s=self.lease_s)
        for status in writes.statuses:
            self.metrics.transitions.labels(status=status.value).inc()
        self.recorded()
        return results

    @staticmethod
    def _apply(writes: GroupWrites, current: dict[str, Current], item: Queued) -> Leased | None:
        run_id = item.outcome.run_id
        now = current.get(run_id)
        recording = item.outcome.decide(now, writes.at)
        if recording.note is not None:
            log.info(recording.note, run_id=run_id, outcome=type(item.outcome).__name__)
        if now is None:
            return None
        following = writes.apply(now, recording, item.cause)
        current.pop(run_id)  # one outcome per run in a group: a second one would find the work recorded
        return following
