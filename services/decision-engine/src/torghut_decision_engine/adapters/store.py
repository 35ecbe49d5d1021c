"""Postgres store of runs and their events: the single source of truth for streams, polls and restarts.

An event and the run's new state commit in one transaction, and only while the run is not
terminal, so exactly one terminal event exists per run even when the owner and a lease reaper
race. Event ids are the run's ``last_event_id`` counter: 1, 2, 3, ... per run.

The tables are the classes of :mod:`.tables` (their one definition; a test diffs them against the
migrated schema); the module-level names here are their Core tables, which the statements use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from torghut_contracts.decision_engine import TERMINAL_EVENTS, RunState, SseEvent

from .tables import Run, RunEvent

runs: sa.Table = Run.__table__  # type: ignore[attr-defined]
run_events: sa.Table = RunEvent.__table__  # type: ignore[attr-defined]
LIVE = (RunState.ACCEPTED.value, RunState.RUNNING.value)
TERMINAL = (RunState.FINAL.value, RunState.ERROR.value)

# Built once: a statement object is compiled once and its cache key memoized, where one built per call
# costs its construction, its cache key and, for a multi-row VALUES, a compilation every time.
_INSERT_EVENT = run_events.insert()  # executed with a list of rows: one pipelined executemany
_CREATE = sa.text("""
WITH new_runs AS (
    INSERT INTO runs (run_id, request_id, request_hash, request, symbol, strategy_id, status, fault, owner,
                      lease_expires_at, deadline_at, created_at, updated_at, last_event_id, final, error)
    SELECT r.run_id, r.request_id, r.request_hash, r.request, r.symbol, r.strategy_id, r.status, r.fault, :owner,
           CAST(:lease_expires_at AS timestamptz), r.deadline_at, CAST(:now AS timestamptz),
           CAST(:now AS timestamptz), r.last_event_id, r.final, r.error
    FROM unnest(CAST(:run_ids AS text[]), CAST(:request_ids AS text[]), CAST(:request_hashes AS text[]),
                CAST(:requests AS text[]), CAST(:symbols AS text[]), CAST(:strategy_ids AS text[]),
                CAST(:statuses AS text[]), CAST(:faults AS text[]), CAST(:deadlines AS timestamptz[]),
                CAST(:last_event_ids AS integer[]), CAST(:finals AS text[]), CAST(:errors AS text[]))
         AS r(run_id, request_id, request_hash, request, symbol, strategy_id, status, fault, deadline_at,
              last_event_id, final, error)
    ON CONFLICT DO NOTHING
    RETURNING run_id
), new_events AS (
    INSERT INTO run_events (run_id, event_id, event, data, created_at)
    SELECT e.run_id, e.event_id, e.event, e.data, CAST(:now AS timestamptz)
    FROM unnest(CAST(:event_runs AS text[]), CAST(:event_ids AS integer[]), CAST(:event_names AS text[]),
                CAST(:event_data AS text[])) AS e(run_id, event_id, event, data)
    WHERE e.run_id IN (SELECT run_id FROM new_runs)
)
SELECT run_id FROM new_runs
""")
"""Runs and their events 1..n in one statement, however many runs. No conflict target: two racing
submissions collide on the primary key (the run id is derived from the request id) as often as on
request_id; either way the first wins, and the loser inserts neither a run nor an event (its run id
is not returned)."""
_RUN_BY_ID = sa.select(runs).where(runs.c.run_id == sa.bindparam("run_id"))
_RUNS_BY_REQUEST = sa.select(runs).where(
    runs.c.request_id == sa.any_(sa.bindparam("request_ids", type_=postgresql.ARRAY(sa.Text))))
_EVENTS_AFTER = (sa.select(run_events.c.event_id, run_events.c.event, run_events.c.data)
                 .where(run_events.c.run_id == sa.bindparam("run_id"), run_events.c.event_id > sa.bindparam("after"))
                 .order_by(run_events.c.event_id))


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    request_id: str
    request_hash: str
    request: str
    status: RunState
    fault: str | None
    owner: str
    deadline_at: datetime
    created_at: datetime
    updated_at: datetime
    last_event_id: int
    final: str | None
    error: str | None

    @property
    def terminal(self) -> bool:
        return self.status in (RunState.FINAL, RunState.ERROR)


@dataclass(frozen=True)
class StoredEvent:
    event_id: int
    event: SseEvent
    data: str


@dataclass(frozen=True)
class NewEvent:
    event: SseEvent
    data: str


@dataclass(frozen=True)
class FinishedRun:
    """The events after ``decision.accepted`` of a run computed before it was created, and its end state."""

    events: tuple[NewEvent, ...]
    status: RunState
    final: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class NewRun:
    run_id: str
    request_id: str
    request_hash: str
    request_json: str
    symbol: str
    strategy_id: str
    fault: str | None
    deadline_at: datetime


@dataclass(frozen=True)
class InitialState:
    """A new run's row as it is inserted."""

    status: RunState
    last_event_id: int
    final: str | None
    error: str | None


@dataclass(frozen=True)
class NewRunWithEvents:
    """A run to create: live after its ``decision.accepted`` event, or ``finished`` with all its events."""

    new: NewRun
    accepted_data: str
    finished: FinishedRun | None = None

    def events(self) -> list[NewEvent]:
        return [NewEvent(SseEvent.ACCEPTED, self.accepted_data), *(self.finished.events if self.finished else ())]

    def initial(self) -> InitialState:
        finished = self.finished
        if finished is None:
            return InitialState(RunState.ACCEPTED, 1, None, None)
        return InitialState(finished.status, 1 + len(finished.events), finished.final, finished.error)


def _record(row: sa.Row) -> RunRecord:
    return RunRecord(run_id=row.run_id, request_id=row.request_id, request_hash=row.request_hash,
                     request=row.request, status=RunState(row.status), fault=row.fault, owner=row.owner,
                     deadline_at=row.deadline_at, created_at=row.created_at, updated_at=row.updated_at,
                     last_event_id=row.last_event_id, final=row.final, error=row.error)


class RunStore:
    def __init__(self, engine: AsyncEngine, owner: str, lease_ttl: timedelta) -> None:
        self.engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        """For single statements: atomic by themselves, they need no BEGIN and COMMIT round trips."""
        self.owner = owner
        self.lease_ttl = lease_ttl

    async def create(self, new: NewRun, accepted_data: str, now: datetime, *,
                     finished: FinishedRun | None = None) -> tuple[RunRecord, bool]:
        """Insert the run with its ``decision.accepted`` event, or return the run that has this request id.

        With ``finished`` the run is inserted in that end state with all its events: a run computed
        before its creation is never seen half written.
        """
        return (await self.create_many([NewRunWithEvents(new, accepted_data, finished)], now))[0]

    async def create_many(self, items: Sequence[NewRunWithEvents], now: datetime) -> list[tuple[RunRecord, bool]]:
        """:meth:`create` for several runs at once, in order: each the new run (True) or the one its request
        id already has (False).

        One statement inserts them all with their events (see ``_CREATE``), atomic on its own, so it
        runs without the BEGIN and COMMIT round trips of an explicit transaction; a second reads the
        runs that already existed, when there are any.
        """
        initial = [item.initial() for item in items]
        events = [(item.new.run_id, event_id, event) for item in items
                  for event_id, event in enumerate(item.events(), start=1)]
        async with self._autocommit.connect() as conn:
            created = set((await conn.execute(_CREATE, {
                "owner": self.owner, "lease_expires_at": now + self.lease_ttl, "now": now,
                "run_ids": [item.new.run_id for item in items],
                "request_ids": [item.new.request_id for item in items],
                "request_hashes": [item.new.request_hash for item in items],
                "requests": [item.new.request_json for item in items],
                "symbols": [item.new.symbol for item in items],
                "strategy_ids": [item.new.strategy_id for item in items],
                "statuses": [state.status.value for state in initial],
                "faults": [item.new.fault for item in items],
                "deadlines": [item.new.deadline_at for item in items],
                "last_event_ids": [state.last_event_id for state in initial],
                "finals": [state.final for state in initial], "errors": [state.error for state in initial],
                "event_runs": [run_id for run_id, _, _ in events], "event_ids": [event_id for _, event_id, _ in events],
                "event_names": [event.event.value for _, _, event in events],
                "event_data": [event.data for _, _, event in events]})).scalars())
            missing = [item.new.request_id for item in items if item.new.run_id not in created]
            existing = {row.request_id: _record(row) for row in
                        await conn.execute(_RUNS_BY_REQUEST, {"request_ids": missing})} if missing else {}
        results: list[tuple[RunRecord, bool]] = []
        for item, state in zip(items, initial, strict=True):
            if item.new.run_id in created:
                new = item.new
                results.append((RunRecord(run_id=new.run_id, request_id=new.request_id, request_hash=new.request_hash,
                                          request=new.request_json, status=state.status, fault=new.fault,
                                          owner=self.owner, deadline_at=new.deadline_at, created_at=now,
                                          updated_at=now, last_event_id=state.last_event_id, final=state.final,
                                          error=state.error), True))
                continue
            record = existing.get(item.new.request_id)
            if record is None:  # pragma: no cover - the row existed a moment ago; retention cannot run that fast
                raise RuntimeError(f"run for request {item.new.request_id} vanished")
            results.append((record, False))
        return results

    async def append(self, run_id: str, event: SseEvent, data: str, now: datetime, *,
                     status: RunState | None = None, final: str | None = None, error: str | None = None,
                     lease_expired_before: datetime | None = None) -> int | None:
        """Append an event; None when the run is already terminal (or, for the reaper, its lease is live)."""
        return await self.append_many(run_id, [NewEvent(event, data)], now, status=status, final=final, error=error,
                                      lease_expired_before=lease_expired_before)

    async def append_many(self, run_id: str, events: Sequence[NewEvent], now: datetime, *,
                          status: RunState | None = None, final: str | None = None, error: str | None = None,
                          lease_expired_before: datetime | None = None) -> int | None:
        """Append events in order in one transaction; the id of the last, or None when the run is terminal.

        One round trip for the run row and one multi-row insert, whatever the number of events: a run
        whose stages are computed back to back commits them together. ``status``, ``final`` and
        ``error`` describe the run after the last event (only the last may be terminal).
        """
        if not events:
            raise ValueError("append_many needs at least one event")
        condition = sa.and_(runs.c.run_id == run_id, runs.c.status.in_(LIVE))
        if lease_expired_before is not None:
            condition = sa.and_(condition, runs.c.lease_expires_at < lease_expired_before)
        values: dict[str, object] = {"last_event_id": runs.c.last_event_id + len(events), "updated_at": now}
        if status is not None:
            values["status"] = status.value
        if final is not None:
            values["final"] = final
        if error is not None:
            values["error"] = error
        async with self.engine.begin() as conn:
            last_id = (await conn.execute(
                runs.update().where(condition).values(**values).returning(runs.c.last_event_id))).scalar()
            if last_id is None:
                return None
            first_id = int(last_id) - len(events) + 1
            await conn.execute(_INSERT_EVENT, [
                {"run_id": run_id, "event_id": first_id + offset, "event": new.event.value, "data": new.data,
                 "created_at": now} for offset, new in enumerate(events)])
        return int(last_id)

    async def get(self, run_id: str) -> RunRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(_RUN_BY_ID, {"run_id": run_id})).first()
        return _record(row) if row is not None else None

    async def events_after(self, run_id: str, after: int) -> tuple[list[StoredEvent], RunRecord | None]:
        """Events with id > ``after`` in order, and the run as it was when they were read.

        When the events end with the terminal one the run row is not read (the reader stops there
        anyway) and None stands in for it: a finished run costs its stream one query.
        """
        async with self.engine.connect() as conn:
            events = await self._events(conn, run_id, after)
            if events and events[-1].event in TERMINAL_EVENTS:
                return events, None
            row = (await conn.execute(_RUN_BY_ID, {"run_id": run_id})).first()
        return events, (_record(row) if row is not None else None)

    async def event(self, run_id: str, event: SseEvent) -> StoredEvent | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(run_events).where(run_events.c.run_id == run_id, run_events.c.event == event.value)
                .order_by(run_events.c.event_id).limit(1))).first()
        return StoredEvent(row.event_id, SseEvent(row.event), row.data) if row is not None else None

    @staticmethod
    async def _events(conn: AsyncConnection, run_id: str, after: int) -> list[StoredEvent]:
        rows = await conn.execute(_EVENTS_AFTER, {"run_id": run_id, "after": after})
        return [StoredEvent(row.event_id, SseEvent(row.event), row.data) for row in rows]

    async def renew_leases(self, run_ids: list[str], now: datetime) -> None:
        if not run_ids:
            return
        async with self.engine.begin() as conn:
            await conn.execute(runs.update().where(runs.c.run_id.in_(run_ids), runs.c.owner == self.owner,
                                                   runs.c.status.in_(LIVE))
                               .values(lease_expires_at=now + self.lease_ttl))

    async def expired_runs(self, now: datetime) -> list[str]:
        """Live runs whose owner stopped renewing their lease (it crashed or was restarted)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(runs.c.run_id).where(runs.c.status.in_(LIVE),
                                                                       runs.c.lease_expires_at < now))
        return [row.run_id for row in rows]

    async def purge_finished(self, before: datetime) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(runs.delete().where(runs.c.status.in_(TERMINAL), runs.c.updated_at < before))
        return int(result.rowcount or 0)
