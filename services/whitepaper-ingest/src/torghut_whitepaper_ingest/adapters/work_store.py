"""``whitepaper_run_work``: the slow step each run waits for, who works on it, and a dispatch's claim.

A row is written with the status change that creates the need (intake, requeue, a manual
dispatch), leased by one worker at a time, and deleted (or moved to the next step) in the same
transaction that records the step's outcome. ``dispatch_generation`` is set by the transaction that
claims a dispatch, before the AgentRun is submitted: a worker redoing the step after a crash
submits the same generation, hence the same idempotency key. Every statement is one short round
trip; none runs while a download or a submission is in flight.

The advancer's statements take many runs at once: a lease returns each leased run with its work,
and the recorder locks, finishes and advances the work of a whole group of runs in one statement each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..domain.outcomes import Current
from ..domain.run import Run
from ..domain.work import Step
from .run_store import RUN_COLUMNS, run_from_row
from .tables import WhitepaperRunWorkRow

run_work: sa.Table = WhitepaperRunWorkRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Work:
    run_id: str
    step: Step
    then_dispatch: bool
    dispatch_generation: int | None
    cause: str


@dataclass(frozen=True)
class Leased:
    """A run's work leased to this worker, with the run as the lease found it: what the next call needs."""

    work: Work
    run: Run


_LEASABLE = "(lease_owner IS NULL OR lease_owner = :owner OR lease_until <= now())"
_LEASE = sa.text("UPDATE whitepaper_run_work SET lease_owner = :owner, "
                 "lease_until = now() + make_interval(secs => :lease_s) "
                 f"WHERE run_id = ANY(CAST(:run_ids AS TEXT[])) AND {_LEASABLE} RETURNING run_id")
_RENEW = sa.text("UPDATE whitepaper_run_work SET lease_until = now() + make_interval(secs => :lease_s) "
                 "WHERE run_id = ANY(CAST(:run_ids AS TEXT[])) AND lease_owner = :owner")
_RUN = ", ".join(f"r.{name}" for name in RUN_COLUMNS)


def _lease_with_runs(which: str) -> sa.TextClause:
    """Lease the work ``which`` names (what another worker holds live is left out, even if named) and
    read each leased run with its work."""
    return sa.text(
        "WITH leased AS (UPDATE whitepaper_run_work SET lease_owner = :owner, "
        "lease_until = now() + make_interval(secs => :lease_s) "
        f"WHERE run_id {which} AND {_LEASABLE} "
        "RETURNING run_id, step, then_dispatch, dispatch_generation AS claimed, cause) "
        f"SELECT w.step, w.then_dispatch, w.claimed, w.cause, {_RUN} "
        "FROM leased w JOIN whitepaper_runs r USING (run_id) ORDER BY r.run_id")


_LEASE_WITH_RUNS = _lease_with_runs("= ANY(CAST(:run_ids AS TEXT[]))")
_LEASE_OLDEST = _lease_with_runs(
    f"IN (SELECT run_id FROM whitepaper_run_work WHERE {_LEASABLE} AND run_id <> ALL(CAST(:busy AS TEXT[])) "
    "ORDER BY created_at, run_id LIMIT :free)")
_LOCK_WITH_RUNS = sa.text(
    f"SELECT w.step, w.then_dispatch, w.dispatch_generation AS claimed, w.lease_owner, {_RUN} "
    "FROM whitepaper_runs r JOIN whitepaper_run_work w USING (run_id) "
    "WHERE r.run_id = ANY(CAST(:run_ids AS TEXT[])) ORDER BY r.run_id FOR UPDATE")
_FINISH_MANY = sa.text("DELETE FROM whitepaper_run_work WHERE run_id = ANY(CAST(:run_ids AS TEXT[]))")
_DISPATCH_NEXT = sa.text(
    "UPDATE whitepaper_run_work SET step = 'dispatch', dispatch_generation = :generation, "
    "lease_until = CASE WHEN lease_owner = :owner THEN now() + make_interval(secs => :lease_s) "
    "ELSE lease_until END WHERE run_id = :run_id")
_RELEASE = sa.text("UPDATE whitepaper_run_work SET lease_owner = NULL, lease_until = NULL "
                   "WHERE run_id = :run_id AND lease_owner = :owner")


_ADD = insert(run_work).values(created_at=sa.func.now()).on_conflict_do_nothing(index_elements=[run_work.c.run_id])


async def add(conn: AsyncConnection, run_id: str, step: Step, *, then_dispatch: bool, cause: str) -> None:
    """Schedule ``step`` for the run, in the transaction that made it needed (a run has one row at most:
    a row already there, e.g. a dispatch claimed before, is kept as it is)."""
    await add_many(conn, [Work(run_id, step, then_dispatch, None, cause)])


async def add_many(conn: AsyncConnection, work: Sequence[Work]) -> None:
    """:func:`add` for many runs (a fetch's new runs): one pipelined ``executemany``."""
    if work:
        await conn.execute(_ADD, [{"run_id": w.run_id, "step": w.step.value, "then_dispatch": w.then_dispatch,
                                   "cause": w.cause[:500]} for w in work])


async def lease_oldest(engine: AsyncEngine, *, busy: Sequence[str], free: int, owner: str,
                       lease_s: float) -> list[Leased]:
    """Lease the oldest work ``owner`` may take (free, its own from a previous process, or expired), at most
    ``free`` runs and none of ``busy`` (in hand already), in one statement that also reads each run.

    It reads no more rows than it leases: reading the whole backlog on every start made a burst of runs
    quadratic (500 rows read per run started), and a scan before the lease cost a round trip a start."""
    if free <= 0:
        return []
    async with engine.begin() as conn:
        rows = (await conn.execute(_LEASE_OLDEST, {"busy": list(busy), "free": free, "owner": owner,
                                                   "lease_s": lease_s})).all()
    return [_leased(row) for row in rows]


async def lease(engine: AsyncEngine, run_ids: Sequence[str], *, owner: str, lease_s: float) -> list[Leased]:
    """Lease the runs' work to ``owner``, in one statement that also reads each run; those another worker
    took meanwhile are left out."""
    if not run_ids:
        return []
    async with engine.begin() as conn:
        rows = (await conn.execute(_LEASE_WITH_RUNS, {"run_ids": list(run_ids), "owner": owner,
                                                      "lease_s": lease_s})).all()
    return [_leased(row) for row in rows]


def _leased(row: Any) -> Leased:
    return Leased(Work(run_id=row.run_id, step=Step(row.step), then_dispatch=row.then_dispatch,
                       dispatch_generation=row.claimed, cause=row.cause), run_from_row(row))


async def take(conn: AsyncConnection, run_ids: Sequence[str], *, owner: str, lease_s: float) -> list[str]:
    """:func:`lease` in the caller's transaction (a manual dispatch leases the work it schedules)."""
    rows = await conn.execute(_LEASE, {"run_ids": list(run_ids), "owner": owner, "lease_s": lease_s})
    return sorted(row.run_id for row in rows)


async def lock_for_outcomes(conn: AsyncConnection, run_ids: Sequence[str], *, owner: str) -> dict[str, Current]:
    """The runs that still have work, with it, locked (``FOR UPDATE``, in run id order) until the caller's
    transaction ends: what the outcomes of their steps are recorded against."""
    rows = await conn.execute(_LOCK_WITH_RUNS, {"run_ids": list(run_ids)})
    return {row.run_id: Current(run=run_from_row(row), step=Step(row.step), then_dispatch=row.then_dispatch,
                                claimed=row.claimed, ours=row.lease_owner == owner) for row in rows}


async def finish_many(conn: AsyncConnection, run_ids: Sequence[str]) -> None:
    if run_ids:
        await conn.execute(_FINISH_MANY, {"run_ids": list(run_ids)})


async def dispatch_next(conn: AsyncConnection, generations: dict[str, int | None], *, owner: str,
                        lease_s: float) -> None:
    """The runs' next step is the dispatch, claimed with its generation where one is given (the lease is
    then renewed for the submission); one pipelined ``executemany``."""
    if generations:
        await conn.execute(_DISPATCH_NEXT, [{"run_id": run_id, "generation": generation, "owner": owner,
                                             "lease_s": lease_s} for run_id, generation in generations.items()])


async def finish(conn: AsyncConnection, run_id: str) -> None:
    await conn.execute(run_work.delete().where(run_work.c.run_id == run_id))


async def renew(engine: AsyncEngine, run_ids: Sequence[str], *, owner: str, lease_s: float) -> None:
    """Extend ``owner``'s leases on ``run_ids`` (a lease another worker took over stays theirs)."""
    async with engine.begin() as conn:
        await conn.execute(_RENEW, {"run_ids": list(run_ids), "owner": owner, "lease_s": lease_s})


async def release(engine: AsyncEngine, run_id: str, *, owner: str) -> None:
    """Give the work back (a stop cut its step short): any worker may take it at once."""
    async with engine.begin() as conn:
        await conn.execute(_RELEASE, {"run_id": run_id, "owner": owner})


async def waiting(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(run_work))).scalar_one())
