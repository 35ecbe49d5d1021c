"""Postgres persistence of runs: one row per run, one row per status change, one row per finalize result.

Every status change goes through :func:`transition`, which checks the status machine, bumps the
run's ``seq`` and writes the lifecycle event in the same transaction. The event rows are the run's
history *and* the outbox: rows written by the Kafka handler are published by the runtime (and marked
so here); rows written by an HTTP request are published after its commit, or by the sweeper.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.enums import WhitepaperRunStatus as Status
from torghut_contracts.models import GithubIssueEvent, WhitepaperRunEvent

from ..domain.finalize import FinalizePayload
from ..domain.intake import IssueIntake
from ..domain.issue_body import WhitepaperMarker
from ..domain.run import Run, lifecycle_event
from ..domain.status import check_transition
from .tables import WhitepaperRunEventRow, WhitepaperRunResultRow, WhitepaperRunRow

runs: sa.Table = WhitepaperRunRow.__table__  # type: ignore[attr-defined]
run_events: sa.Table = WhitepaperRunEventRow.__table__  # type: ignore[attr-defined]
run_results: sa.Table = WhitepaperRunResultRow.__table__  # type: ignore[attr-defined]


def pg_safe(value: Any) -> Any:
    """Postgres text and JSONB refuse NUL characters; a stray one in an issue must not become a 5xx or a DLQ."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {pg_safe(k): pg_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [pg_safe(v) for v in value]
    return value


def _safe_values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: pg_safe(v) for k, v in values.items()}


class ConcurrentChange(RuntimeError):
    """The run changed under us (its ``seq`` moved); the caller retries from a fresh read."""


def _marker(value: dict[str, Any]) -> WhitepaperMarker:
    return WhitepaperMarker(
        workflow=value.get("workflow"), base_branch=value.get("base_branch"), head_branch=value.get("head_branch"),
        attachment_url=value.get("attachment_url"), subject=value.get("subject"),
        tags=tuple(value.get("tags") or ()), analysis_mode=value.get("analysis_mode") or "implementation",
    )


def run_from_row(row: Any) -> Run:
    return Run(
        run_id=row.run_id, repository=row.repository, issue_number=row.issue_number, issue_url=row.issue_url,
        issue_title=row.issue_title, attachment_url=row.attachment_url, pdf_url=row.pdf_url,
        marker=_marker(row.marker), status=Status(row.status), status_reason=row.status_reason, seq=row.seq,
        generation=row.dispatch_generation, pdf_sha256=row.pdf_sha256, pdf_size_bytes=row.pdf_size_bytes,
        object_uri=row.object_uri, agentrun_name=row.agentrun_name,
    )


RUN_COLUMNS = ("run_id", "repository", "issue_number", "issue_url", "issue_title", "attachment_url", "pdf_url",
               "marker", "status", "status_reason", "seq", "dispatch_generation", "pdf_sha256", "pdf_size_bytes",
               "object_uri", "agentrun_name")
"""What a :class:`Run` is read from: not the stored GitHub event, which can be half a megabyte of JSON."""

# The statements every run takes, built once: building one per call (``.values(**...)``, a
# ``where`` per run id) cost the worker more CPU than executing it. The runs' and events' inserts
# and the runs' updates take their columns from the parameters they are executed with.
_GET = sa.select(*(runs.c[name] for name in RUN_COLUMNS)).where(runs.c.run_id == sa.bindparam("run_id"))
_GET_LOCKED = _GET.with_for_update()
_GET_MANY_LOCKED = (sa.select(*(runs.c[name] for name in RUN_COLUMNS))
                    .where(runs.c.run_id == sa.any_(sa.bindparam("run_ids", type_=ARRAY(sa.Text))))
                    .order_by(runs.c.run_id).with_for_update())
_INSERT_RUN = runs.insert()
_INSERT_EVENT = run_events.insert()
_UPDATE_RUN = runs.update().where(runs.c.run_id == sa.bindparam("_run_id"))
_UPDATE_RUN_AT_SEQ = runs.update().where(runs.c.run_id == sa.bindparam("_run_id"),
                                         runs.c.seq == sa.bindparam("_seq"))


async def get(conn: AsyncConnection, run_id: str, *, lock: bool = False) -> Run | None:
    """The run, optionally locked (``FOR UPDATE``) so two writers of one run take turns."""
    row = (await conn.execute(_GET_LOCKED if lock else _GET, {"run_id": run_id})).first()
    return run_from_row(row) if row is not None else None


async def get_many(conn: AsyncConnection, run_ids: Sequence[str]) -> dict[str, Run]:
    """The runs of ``run_ids`` that exist, locked (``FOR UPDATE``, in run id order, as every group locks
    them) until the caller's transaction ends: one statement for a fetch's issue events."""
    rows = await conn.execute(_GET_MANY_LOCKED, {"run_ids": sorted(set(run_ids))})
    return {row.run_id: run_from_row(row) for row in rows}


@dataclass(frozen=True)
class NewRun:
    """A run worked out from its issue event but not yet written: the run, its rows and its first event."""

    run: Run
    row: dict[str, Any]
    event: WhitepaperRunEvent
    event_row: dict[str, Any]


def new_run(intake: IssueIntake, event: GithubIssueEvent, *, trigger_source: str, cause: str, now: datetime,
            published: bool) -> NewRun:
    """A new run in ``received`` with its first lifecycle event (``seq`` 1), in memory."""
    run = Run(run_id=intake.run_id, repository=intake.repository, issue_number=intake.issue_number,
              issue_url=intake.issue_url, issue_title=intake.issue_title, attachment_url=intake.attachment_url,
              pdf_url=intake.pdf_url, marker=intake.marker, status=Status.RECEIVED, seq=1, generation=0)
    row = _safe_values(dict(
        run_id=run.run_id, repository=run.repository, issue_number=run.issue_number, issue_url=run.issue_url,
        issue_title=run.issue_title, attachment_url=run.attachment_url, pdf_url=run.pdf_url,
        marker=intake.marker.as_json(), status=run.status.value, status_reason=None, seq=1, dispatch_generation=0,
        delivery_id=intake.delivery_id, trigger_source=trigger_source, trigger_actor=intake.actor,
        source_event=event.model_dump(mode="json"), dispatch_attempts=0, created_at=now, updated_at=now,
    ))
    lifecycle = lifecycle_event(run, seq=1, status=Status.RECEIVED, reason=None, occurred_at=now)
    event_row = _event_row(lifecycle, seq=1, from_status=None, cause=cause, published=published, now=now)
    return NewRun(run, row, lifecycle, event_row)


async def insert_new(conn: AsyncConnection, created: Sequence[NewRun]) -> None:
    """Write new runs and their first events: one pipelined ``executemany`` each, whatever their number."""
    if created:
        await conn.execute(_INSERT_RUN, [new.row for new in created])
        await conn.execute(_INSERT_EVENT, [new.event_row for new in created])


@dataclass(frozen=True)
class Moved:
    """A status change worked out but not yet written: the run after it, its columns and its event."""

    run: Run
    values: dict[str, Any]
    """The run columns to set."""
    event: WhitepaperRunEvent
    event_row: dict[str, Any]


def move(run: Run, target: Status, *, reason: str | None, cause: str, now: datetime, published: bool,
         **columns: Any) -> Moved:
    """Move the run to ``target`` (raises ``IllegalTransition`` if the machine forbids it), in memory.

    ``columns`` are further run columns to set in the same update (PDF facts, AgentRun facts).
    """
    check_transition(run.status, target)
    seq = run.seq + 1
    values = _safe_values({"status": target.value, "status_reason": reason, "seq": seq, "updated_at": now,
                           **columns})
    changed = replace(run, status=target, status_reason=reason, seq=seq,
                      generation=columns.get("dispatch_generation", run.generation),
                      pdf_sha256=columns.get("pdf_sha256", run.pdf_sha256),
                      pdf_size_bytes=columns.get("pdf_size_bytes", run.pdf_size_bytes),
                      object_uri=columns.get("object_uri", run.object_uri),
                      agentrun_name=columns.get("agentrun_name", run.agentrun_name))
    lifecycle = lifecycle_event(changed, seq=seq, status=target, reason=reason, occurred_at=now)
    row = _event_row(lifecycle, seq=seq, from_status=run.status, cause=cause, published=published, now=now)
    return Moved(changed, values, lifecycle, row)


async def transition(conn: AsyncConnection, run: Run, target: Status, *, reason: str | None, cause: str,
                     now: datetime, published: bool, **columns: Any) -> tuple[Run, WhitepaperRunEvent]:
    """:func:`move`, written in ``conn``; raises ``ConcurrentChange`` if the run's ``seq`` moved meanwhile."""
    moved = move(run, target, reason=reason, cause=cause, now=now, published=published, **columns)
    result = await conn.execute(_UPDATE_RUN_AT_SEQ, {**moved.values, "_run_id": run.run_id, "_seq": run.seq})
    if result.rowcount != 1:
        raise ConcurrentChange(f"run {run.run_id} changed while moving to {target.value}")
    await conn.execute(_INSERT_EVENT, moved.event_row)
    return moved.run, moved.event


async def write_moves(conn: AsyncConnection, changes: dict[str, dict[str, Any]], events: list[dict[str, Any]]) -> None:
    """Many runs' status changes in a few statements: the runs, locked by the caller's transaction (so
    none changed since it read them), updated with one pipelined ``executemany`` per set of columns,
    and their events inserted with one statement. ``changes``: the columns to set, by run id."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for run_id, values in changes.items():
        by_columns.setdefault(tuple(sorted(values)), []).append({**values, "_run_id": run_id})
    for rows in by_columns.values():
        await conn.execute(_UPDATE_RUN, rows)
    if events:
        await conn.execute(_INSERT_EVENT, events)


async def update_columns(conn: AsyncConnection, run_id: str, now: datetime, **columns: Any) -> None:
    """Facts that change no status (a failed run's newer failure reason, dispatch attempt counts)."""
    await conn.execute(_UPDATE_RUN, {**_safe_values(columns), "updated_at": now, "_run_id": run_id})


def _event_row(event: WhitepaperRunEvent, *, seq: int, from_status: Status | None, cause: str, published: bool,
               now: datetime) -> dict[str, Any]:
    return _safe_values(dict(
        event_id=event.event_id, run_id=event.run_id, seq=seq,
        from_status=from_status.value if from_status else None, to_status=event.status.value, reason=event.reason,
        cause=cause[:500], payload=event.model_dump(mode="json"), occurred_at=event.occurred_at,
        published_at=now if published else None,
    ))


# -- finalize results ------------------------------------------------------------------------------

def payload_sha256(raw: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


async def result_sha256(conn: AsyncConnection, run_id: str) -> str | None:
    row = (await conn.execute(sa.select(run_results.c.payload_sha256).where(run_results.c.run_id == run_id))).first()
    return row.payload_sha256 if row is not None else None


async def save_result(conn: AsyncConnection, run_id: str, payload: FinalizePayload, raw: dict[str, Any],
                      now: datetime) -> None:
    values = {"status": payload.status, "source": payload.source, "agentrun_name": payload.agentrun_name,
              "verdict": payload.verdict_name, "design_pull_requests": payload.design_pull_request_urls(),
              "payload": raw, "payload_sha256": payload_sha256(raw), "received_at": now}
    values = _safe_values(values)
    statement = pg_insert(run_results).values(run_id=run_id, **values)
    await conn.execute(statement.on_conflict_do_update(index_elements=[run_results.c.run_id], set_=values))


# -- reads for the control API -----------------------------------------------------------------------

async def detail(conn: AsyncConnection, run_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(runs).where(runs.c.run_id == run_id))).mappings().first()
    if row is None:
        return None
    out = {k: _jsonable(v) for k, v in row.items()}
    events = (await conn.execute(sa.select(run_events).where(run_events.c.run_id == run_id)
                                 .order_by(run_events.c.seq))).mappings().all()
    out["events"] = [{k: _jsonable(v) for k, v in e.items() if k != "payload"} for e in events]
    result = (await conn.execute(sa.select(run_results).where(run_results.c.run_id == run_id))).mappings().first()
    out["result"] = {k: _jsonable(v) for k, v in result.items()} if result is not None else None
    return out


async def counts_by_status(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status))
    return {status: int(count) for status, count in rows}


async def unpublished_count(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(run_events)
                                   .where(run_events.c.published_at.is_(None)))).scalar_one())


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
