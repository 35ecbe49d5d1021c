"""Postgres store of executions and their order-feed events; the event table doubles as the outbox.

``record`` is the single door through which every venue event passes: in one transaction it locks the
execution, has the order feed (``domain.feed``) judge the event, stores the event with that verdict
(a repeated fingerprint is not stored twice: the unique index says so) and, when applied, moves the
execution and keeps the ``TradeUpdate`` to publish. The rules are the domain's; here is only SQL.
The runtime's outbox relay publishes the kept updates (``TRADE_UPDATES_OUTBOX``) in id order and marks
them, so an event committed here always reaches Kafka.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from torghut_contracts.enums import Adapter, OrderStatus
from torghut_contracts.models import ApprovedOrder, ControlCommand, TradeUpdate

from ..domain.feed import FeedStep, advance, advance_all, unlinked
from ..domain.orders import TERMINAL_STATUSES, VenueEvent
from ..domain.submission import SubmitState
from .executions import ExecutionRow, feed_columns
from .metrics import RouterMetrics
from .tables import control_commands, execution_events, executions
from .trade_update_outbox import TRADE_UPDATES_OUTBOX, PendingPublication
from .transactions import joined


@dataclass(frozen=True)
class Recorded:
    step: FeedStep | None
    """The event through the order feed; None: a duplicate fingerprint (nothing stored)."""

    @property
    def update(self) -> TradeUpdate | None:
        """The trade update to publish (an applied event's)."""
        return self.step.update if self.step is not None else None


@dataclass(frozen=True)
class FirstEvents:
    """An execution's first events as the order feed judged them (``ExecutionStore.judge_first``)."""

    columns: dict[str, Any]
    """The ``executions`` columns they set: the submit state and the feed's."""
    events: list[dict[str, Any]]
    """Their ``execution_events`` rows."""
    updates: list[TradeUpdate]
    """The trade updates to publish."""


def _now() -> datetime:
    return datetime.now(UTC)


# The hot statements are built once and executed with parameter dicts: building one per call (coercing
# each value, walking the tree for the cache key) cost more than the round trip, and these rows have
# ~25 columns.
_CLAIM = (pg_insert(executions).on_conflict_do_nothing(index_elements=["account", "client_order_id"])
          .returning(*executions.c))
_EXECUTION = sa.select(executions).where(executions.c.account == sa.bindparam("b_account"),
                                         executions.c.client_order_id == sa.bindparam("b_coid"))
_EXECUTION_FOR_UPDATE = _EXECUTION.with_for_update()
_EXECUTIONS_NAMED = sa.select(executions).where(
    executions.c.account == sa.bindparam("b_account"),
    executions.c.client_order_id.in_(sa.bindparam("b_coids", expanding=True)))
# The SET clause comes from the parameters' other keys.
_UPDATE_BY_ORDER = executions.update().where(executions.c.account == sa.bindparam("b_account"),
                                             executions.c.client_order_id == sa.bindparam("b_coid"))
_UPDATE_BY_ID = executions.update().where(executions.c.id == sa.bindparam("b_id"))
_CONTROL_COMMANDS = sa.select(control_commands.c.scope, control_commands.c.command)
_INSERT_NEW = (pg_insert(executions).on_conflict_do_nothing(index_elements=["account", "client_order_id"])
               .returning(executions.c.id, executions.c.client_order_id))
_INSERT_EVENT = (pg_insert(execution_events).on_conflict_do_nothing(index_elements=["fingerprint"])
                 .returning(execution_events.c.id))


class ExecutionStore:
    def __init__(self, engine: AsyncEngine, account: str, metrics: RouterMetrics) -> None:
        self.engine = engine
        self.account = account
        self.metrics = metrics

    # -- executions ------------------------------------------------------------------------------
    async def get(self, client_order_id: str, conn: AsyncConnection | None = None) -> ExecutionRow | None:
        async with joined(self.engine, conn) as tx:
            row = (await tx.execute(_EXECUTION, {"b_account": self.account, "b_coid": client_order_id})).first()
        return ExecutionRow.from_row(row) if row is not None else None

    def claim_values(self, order: ApprovedOrder, *, expected: Adapter, venue: Adapter, fallback_reason: str | None,
                     correlation_id: str, traceparent: str | None) -> dict[str, Any]:
        """The execution row of a new claim: every column but ``id``, as ``claim`` writes it."""
        now = _now()
        return dict(
            account=self.account, client_order_id=order.client_order_id, decision_id=order.decision_id,
            request_id=order.request_id, correlation_id=correlation_id, traceparent=traceparent,
            symbol=order.symbol, side=order.side.value,
            qty=order.qty, order_type=order.order_type.value, limit_price=order.limit_price,
            time_in_force=order.time_in_force.value, extended_hours=order.extended_hours,
            reference_price=order.reference_price, approved_at=order.approved_at, expected_adapter=expected.value,
            venue=venue.value, fallback_reason=fallback_reason, submit_state=SubmitState.CLAIMED.value,
            venue_order_id=None, status=OrderStatus.PENDING_NEW.value, filled_qty=Decimal(0), filled_avg_price=None,
            feed_seq=0, last_venue_seq=None, last_event_ts=None, unknown_lookups=0, reject_reason=None,
            created_at=now, updated_at=now,
        )

    async def claim(self, order: ApprovedOrder, *, expected: Adapter, venue: Adapter, fallback_reason: str | None,
                    correlation_id: str, traceparent: str | None = None,
                    conn: AsyncConnection | None = None) -> tuple[ExecutionRow, bool]:
        """Write the execution before any venue I/O; ``(row, False)`` if the client_order_id is known."""
        values = self.claim_values(order, expected=expected, venue=venue, fallback_reason=fallback_reason,
                                   correlation_id=correlation_id, traceparent=traceparent)
        async with joined(self.engine, conn) as tx:
            row = (await tx.execute(_CLAIM, values)).first()
        if row is not None:
            return ExecutionRow.from_row(row), True
        existing = await self.get(order.client_order_id, conn)
        assert existing is not None
        return existing, False

    async def known(self, client_order_ids: Sequence[str], conn: AsyncConnection) -> dict[str, ExecutionRow]:
        """The executions of these client order ids that exist, in one statement (a group's lookup)."""
        rows = await conn.execute(_EXECUTIONS_NAMED, {"b_account": self.account, "b_coids": list(client_order_ids)})
        return {r.client_order_id: ExecutionRow.from_row(r) for r in rows}

    async def set_route(self, client_order_id: str, *, venue: Adapter, fallback_reason: str | None) -> None:
        await self._update(client_order_id, None, venue=venue.value, fallback_reason=fallback_reason)

    async def set_submit_state(self, client_order_id: str, state: SubmitState, *, reject_reason: str | None = None,
                               conn: AsyncConnection | None = None) -> None:
        values: dict[str, Any] = {"submit_state": state.value}
        if reject_reason is not None:
            values["reject_reason"] = reject_reason[:500]
        await self._update(client_order_id, conn, **values)

    async def count_unknown_lookup(self, client_order_id: str) -> int:
        async with self.engine.begin() as conn:
            return int((await conn.execute(
                executions.update().where(executions.c.account == self.account,
                                          executions.c.client_order_id == client_order_id)
                .values(unknown_lookups=executions.c.unknown_lookups + 1, updated_at=_now())
                .returning(executions.c.unknown_lookups))).scalar_one())

    async def _update(self, client_order_id: str, conn: AsyncConnection | None, **values: Any) -> None:
        async with joined(self.engine, conn) as tx:
            await tx.execute(_UPDATE_BY_ORDER, {"b_account": self.account, "b_coid": client_order_id,
                                                "updated_at": _now(), **values})

    async def open_executions(self, venue: Adapter | None = None) -> list[ExecutionRow]:
        """Executions the venue still owes us news about (claimed rows belong to their handler)."""
        query = sa.select(executions).where(
            executions.c.account == self.account,
            executions.c.status.not_in([s.value for s in TERMINAL_STATUSES]),
            executions.c.submit_state != SubmitState.CLAIMED.value,
        ).order_by(executions.c.id)
        if venue is not None:
            query = query.where(executions.c.venue == venue.value)
        async with self.engine.connect() as conn:
            return [ExecutionRow.from_row(r) for r in await conn.execute(query)]

    async def stale_claims(self, older_than: datetime) -> list[ExecutionRow]:
        """Claims whose handler never finished (a crash, a message sent to the DLQ)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(executions).where(
                executions.c.account == self.account, executions.c.submit_state == SubmitState.CLAIMED.value,
                executions.c.updated_at < older_than).order_by(executions.c.id))
            return [ExecutionRow.from_row(r) for r in rows]

    # -- the order feed ---------------------------------------------------------------------------
    async def record(self, event: VenueEvent, conn: AsyncConnection | None = None, *,
                     published: bool = False) -> Recorded:
        """Store ``event`` with the order feed's verdict (``domain.feed.advance``) and, when it applies,
        move the execution. ``published`` means the caller publishes the update itself (the outbox must
        not), which is only safe inside ``conn``: the caller's transaction must also keep what it will
        publish (the runtime's tracking record does)."""
        assert conn is not None or not published, "published=True needs the caller's transaction"
        venue = event.order.venue.value
        self.metrics.messages.labels(venue=venue, source=event.source.value).inc()
        async with joined(self.engine, conn) as conn:
            row = (await conn.execute(_EXECUTION_FOR_UPDATE, {
                "b_account": self.account, "b_coid": event.order.client_order_id})).first()
            execution = ExecutionRow.from_row(row) if row is not None else None
            step = (advance(self.account, execution.feed_order(), event) if execution is not None
                    else unlinked(self.account, event))
            inserted = (await conn.execute(_INSERT_EVENT, self._event_values(
                step, execution, published=published))).scalar_one_or_none()
            if inserted is None:
                self.metrics.duplicates.labels(venue=venue, kind="fingerprint").inc()
                return Recorded(step=None)
            self.metrics.events_persisted.labels(venue=venue).inc()
            self.metrics.count_verdict(step.verdict, venue)
            if execution is not None and step.applied and step.order is not None:
                await conn.execute(_UPDATE_BY_ID, {"b_id": execution.id, "updated_at": _now(),
                                                   **feed_columns(step.order)})
        return Recorded(step=step)

    def judge_first(self, execution: ExecutionRow, events: Sequence[VenueEvent], *, submit_state: SubmitState,
                    reject_reason: str | None = None) -> FirstEvents:
        """An execution's first events through the order feed, judged in memory (``advance_all``): no
        event can be stored for an execution not written yet, so each is judged against the state the
        previous one left. The event rows and the columns they leave the execution with are for the
        caller's transaction to write (``insert_new``)."""
        steps = advance_all(self.account, execution.feed_order(), events)
        for step in steps:
            venue = step.event.order.venue.value
            self.metrics.messages.labels(venue=venue, source=step.event.source.value).inc()
            self.metrics.events_persisted.labels(venue=venue).inc()
            self.metrics.count_verdict(step.verdict, venue)
        columns: dict[str, Any] = {"submit_state": submit_state.value, "updated_at": _now()}
        last_applied = next((s.order for s in reversed(steps) if s.applied and s.order is not None), None)
        if last_applied is not None:
            columns.update(feed_columns(last_applied))
        if reject_reason is not None:
            columns["reject_reason"] = reject_reason[:500]
        return FirstEvents(columns=columns,
                           events=[self._event_values(step, execution, published=True) for step in steps],
                           updates=[step.update for step in steps if step.update is not None])

    async def insert_new(self, conn: AsyncConnection, new: Sequence[tuple[dict[str, Any], FirstEvents]]) -> None:
        """Write executions placed in ``conn``'s transaction without a claim first (a group's paper
        orders: their venue is this database, so there is no I/O for a claim to cover), each with its
        first events, in two statements. A client order id another transaction wrote meanwhile
        fails the transaction: the runtime runs the group again and finds it."""
        rows = [{**values, **first.columns} for values, first in new]
        ids = {r.client_order_id: r.id for r in await conn.execute(_INSERT_NEW, rows)}
        if len(ids) != len(rows):
            taken = sorted({row["client_order_id"] for row in rows} - set(ids))
            raise RuntimeError(f"executions {taken} were written by another transaction while this one placed them")
        events = [{**event, "execution_id": ids[event["client_order_id"]]}
                  for _, first in new for event in first.events]
        if events and len((await conn.execute(_INSERT_EVENT, events)).scalars().all()) != len(events):
            raise RuntimeError(f"events of {sorted(ids)}, placed in this transaction, were already stored: "
                               "refusing to record them twice")

    def _event_values(self, step: FeedStep, execution: ExecutionRow | None, *, published: bool) -> dict[str, Any]:
        event, order, update = step.event, step.event.order, step.update
        return dict(
            fingerprint=step.fingerprint, execution_id=execution.id if execution else None, account=self.account,
            venue=order.venue.value, client_order_id=order.client_order_id, venue_order_id=order.venue_order_id,
            event=event.event.value, status=order.status.value, filled_qty=order.filled_qty,
            filled_avg_price=order.filled_avg_price, fill_qty=event.fill_qty, fill_price=event.fill_price,
            position_qty=event.position_qty, event_ts=event.timestamp, venue_seq=event.venue_seq,
            source=event.source.value, reason=event.reason, verdict=step.verdict.value,
            feed_seq=update.feed_seq if update else None,
            correlation_id=execution.correlation_id if execution else None,
            traceparent=execution.traceparent if execution else None,
            payload=update.model_dump_json() if update else None,
            raw=json.loads(json.dumps(event.raw, default=str)) if event.raw else None, recorded_at=_now(),
            published_at=_now() if published and update is not None else None,
        )

    # -- the outbox -------------------------------------------------------------------------------
    async def pending_publications(self, limit: int = 200) -> list[PendingPublication]:
        """Trade updates committed and not yet published (the outbox relay's rows), oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(execution_events.c.id, execution_events.c.payload, execution_events.c.fingerprint,
                          execution_events.c.correlation_id, execution_events.c.traceparent)
                .where(TRADE_UPDATES_OUTBOX.pending).order_by(*TRADE_UPDATES_OUTBOX.order_by).limit(limit))
            return [PendingPublication(r.id, r.payload, r.fingerprint, r.correlation_id, r.traceparent) for r in rows]

    # -- control posture --------------------------------------------------------------------------
    async def save_control(self, command: ControlCommand) -> bool:
        """Store the latest command per scope; an older one (a compaction replay) changes nothing.

        The upsert's guard is ``torghut_contracts.posture.supersedes`` (newer or equal ``issued_at``
        wins) written as SQL, so that the check and the write are one atomic statement.
        """
        values = pg_insert(control_commands).values(
            scope=command.scope, command=command.model_dump_json(), issued_at=command.issued_at, received_at=_now())
        statement = values.on_conflict_do_update(
            index_elements=["scope"],
            set_={"command": values.excluded.command, "issued_at": values.excluded.issued_at,
                  "received_at": values.excluded.received_at},
            where=control_commands.c.issued_at <= values.excluded.issued_at,
        ).returning(control_commands.c.scope)
        async with self.engine.begin() as conn:
            return (await conn.execute(statement)).first() is not None

    async def control_commands(self, conn: AsyncConnection | None = None) -> dict[str, ControlCommand]:
        async with joined(self.engine, conn) as tx:
            rows = await tx.execute(_CONTROL_COMMANDS)
            return {r.scope: ControlCommand.model_validate_json(r.command) for r in rows}

