"""``whitepaper_run_work``: the slow step each run waits for, who works on it, and a dispatch's claim.

A row is written with the status change that creates the need (intake, requeue, a manual
dispatch), leased by one worker at a time, and deleted (or moved to the next step) in the same
transaction that records the step's outcome. ``dispatch_generation`` is set by the transaction that
claims a dispatch, before the AgentRun is submitted: a worker redoing the step after a crash
submits the same generation, hence the same idempotency key. Every statement is one short round
trip; none runs while a download or a submission is in flight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..domain.work import Head, Step
from .tables import WhitepaperRunWorkRow

run_work: sa.Table = WhitepaperRunWorkRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Work:
    run_id: str
    step: Step
    then_dispatch: bool
    dispatch_generation: int | None
    cause: str


_LEASABLE = "(lease_owner IS NULL OR lease_owner = :owner OR lease_until <= now())"
_HEADS = sa.text("SELECT run_id, lease_owner, (lease_until IS NOT NULL AND lease_until > now()) AS leased "
                 "FROM whitepaper_run_work ORDER BY created_at, run_id LIMIT :limit")
_LEASE = sa.text("UPDATE whitepaper_run_work SET lease_owner = :owner, "
                 "lease_until = now() + make_interval(secs => :lease_s) "
                 f"WHERE run_id = ANY(CAST(:run_ids AS TEXT[])) AND {_LEASABLE} RETURNING run_id")
_RELEASE = sa.text("UPDATE whitepaper_run_work SET lease_owner = NULL, lease_until = NULL "
                   "WHERE run_id = :run_id AND lease_owner = :owner")


async def add(conn: AsyncConnection, run_id: str, step: Step, *, then_dispatch: bool, cause: str) -> None:
    """Schedule ``step`` for the run, in the transaction that made it needed (a run has one row at most:
    a row already there, e.g. a dispatch claimed before, is kept as it is)."""
    await conn.execute(insert(run_work).values(run_id=run_id, step=step.value, then_dispatch=then_dispatch,
                                               cause=cause[:500], created_at=sa.func.now())
                       .on_conflict_do_nothing(index_elements=[run_work.c.run_id]))


async def get(conn: AsyncConnection, run_id: str) -> Work | None:
    """The run's work, locked (``FOR UPDATE``) until the caller's transaction ends."""
    row = (await conn.execute(sa.select(run_work).where(run_work.c.run_id == run_id).with_for_update())).first()
    return _work(row) if row is not None else None


def _work(row: Any) -> Work:
    return Work(run_id=row.run_id, step=Step(row.step), then_dispatch=row.then_dispatch,
                dispatch_generation=row.dispatch_generation, cause=row.cause)


async def heads(engine: AsyncEngine, *, limit: int = 500) -> list[Head]:
    """Runs with work waiting, oldest first."""
    async with engine.connect() as conn:
        rows = (await conn.execute(_HEADS, {"limit": limit})).all()
    return [Head(run_id=row.run_id, lease_owner=row.lease_owner, leased=row.leased) for row in rows]


async def lease(engine: AsyncEngine, run_ids: Sequence[str], *, owner: str, lease_s: float) -> list[str]:
    """Lease the runs' work to ``owner``; those another worker took meanwhile are left out."""
    if not run_ids:
        return []
    async with engine.begin() as conn:
        return await take(conn, run_ids, owner=owner, lease_s=lease_s)


async def take(conn: AsyncConnection, run_ids: Sequence[str], *, owner: str, lease_s: float) -> list[str]:
    """:func:`lease` in the caller's transaction (a manual dispatch leases the work it schedules)."""
    rows = await conn.execute(_LEASE, {"run_ids": list(run_ids), "owner": owner, "lease_s": lease_s})
    return sorted(row.run_id for row in rows)


async def claim_dispatch(conn: AsyncConnection, run_id: str, generation: int) -> None:
    """Record, before the submission, which generation (idempotency key) this dispatch submits."""
    await conn.execute(run_work.update().where(run_work.c.run_id == run_id).values(dispatch_generation=generation))


async def move_to(conn: AsyncConnection, run_id: str, step: Step) -> None:
    await conn.execute(run_work.update().where(run_work.c.run_id == run_id)
                       .values(step=step.value, dispatch_generation=None))


async def finish(conn: AsyncConnection, run_id: str) -> None:
    await conn.execute(run_work.delete().where(run_work.c.run_id == run_id))


async def release(engine: AsyncEngine, run_id: str, *, owner: str) -> None:
    """Give the work back (a stop cut its step short): any worker may take it at once."""
    async with engine.begin() as conn:
        await conn.execute(_RELEASE, {"run_id": run_id, "owner": owner})


async def waiting(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(run_work))).scalar_one())
