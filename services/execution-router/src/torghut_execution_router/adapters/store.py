"""Postgres store of executions and their order-feed events; the event table doubles as the outbox.

``record`` is the single door through which every venue event passes: in one transaction it locks the
execution, judges the event (duplicate by fingerprint, stale by seq / ts / state, unchanged, apply),
stores it with that verdict and, when applied, the ``TradeUpdate`` to publish. The outbox relay
publishes those rows in id order and marks them, so an event committed here always reaches Kafka.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from torghut_contracts.enums import Adapter, OrderStatus, OrderType, Side, TimeInForce
from torghut_contracts.models import ApprovedOrder, ControlCommand, TradeUpdate

from ..domain.feed import ExecutionFeedState, FeedVerdict, fill_delta, judge
from ..domain.orders import TERMINAL_STATUSES, VenueEvent, VenueOrder
from ..domain.trade_update import build_trade_update, event_fingerprint
from .metrics import RouterMetrics
from .tables import control_commands, execution_events, executions
from .transactions import joined


class SubmitState(StrEnum):
    CLAIMED = "claimed"
    """Row written before any venue I/O; a crash here leaves an order that may or may not have been sent."""
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ExecutionRow:
    id: int
    account: str
    client_order_id: str
    decision_id: str
    correlation_id: str
    traceparent: str | None
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    time_in_force: TimeInForce
    extended_hours: bool
    expected_adapter: Adapter
    venue: Adapter
    fallback_reason: str | None
    submit_state: SubmitState
    venue_order_id: str | None
    status: OrderStatus
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    feed_seq: int
    last_venue_seq: int | None
    last_event_ts: datetime | None
    unknown_lookups: int
    reject_reason: str | None
    approved_at: datetime
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> ExecutionRow:
        m = row._mapping
        return cls(
            id=m["id"], account=m["account"], client_order_id=m["client_order_id"], decision_id=m["decision_id"],
            correlation_id=m["correlation_id"], traceparent=m["traceparent"], symbol=m["symbol"],
            side=Side(m["side"]), qty=m["qty"],
            order_type=OrderType(m["order_type"]), limit_price=m["limit_price"],
            time_in_force=TimeInForce(m["time_in_force"]), extended_hours=m["extended_hours"],
            expected_adapter=Adapter(m["expected_adapter"]),
            venue=Adapter(m["venue"]), fallback_reason=m["fallback_reason"],
            submit_state=SubmitState(m["submit_state"]), venue_order_id=m["venue_order_id"],
            status=OrderStatus(m["status"]), filled_qty=m["filled_qty"], filled_avg_price=m["filled_avg_price"],
            feed_seq=m["feed_seq"], last_venue_seq=m["last_venue_seq"], last_event_ts=m["last_event_ts"],
            unknown_lookups=m["unknown_lookups"], reject_reason=m["reject_reason"], approved_at=m["approved_at"],
            created_at=m["created_at"],
        )

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def feed_state(self) -> ExecutionFeedState:
        return ExecutionFeedState(status=self.status, filled_qty=self.filled_qty,
                                  filled_avg_price=self.filled_avg_price, last_venue_seq=self.last_venue_seq,
                                  last_event_ts=self.last_event_ts)

    def venue_order(self) -> VenueOrder:
        """The router's own view of the order (what to cancel, what to report when the venue is silent)."""
        return VenueOrder(venue=self.venue, client_order_id=self.client_order_id, venue_order_id=self.venue_order_id,
                          symbol=self.symbol, side=self.side, qty=self.qty, status=self.status,
                          filled_qty=self.filled_qty, filled_avg_price=self.filled_avg_price,
                          order_type=self.order_type, limit_price=self.limit_price,
                          time_in_force=self.time_in_force, submitted_at=self.approved_at,
                          updated_at=self.last_event_ts, created_at=self.approved_at,
                          extended_hours=self.extended_hours)


@dataclass(frozen=True)
class Recorded:
    verdict: FeedVerdict | None
    """None means a duplicate fingerprint (nothing stored)."""
    update: TradeUpdate | None = None
    linked: bool = True


@dataclass(frozen=True)
class PendingPublication:
    id: int
    payload: str
    fingerprint: str
    correlation_id: str | None
    traceparent: str | None


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
# The SET clause comes from the parameters' other keys.
_UPDATE_BY_ORDER = executions.update().where(executions.c.account == sa.bindparam("b_account"),
                                             executions.c.client_order_id == sa.bindparam("b_coid"))
_UPDATE_BY_ID = executions.update().where(executions.c.id == sa.bindparam("b_id"))
_CONTROL_COMMANDS = sa.select(control_commands.c.scope, control_commands.c.command)
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

    async def claim(self, order: ApprovedOrder, *, expected: Adapter, venue: Adapter, fallback_reason: str | None,
                    correlation_id: str, traceparent: str | None = None,
                    conn: AsyncConnection | None = None) -> tuple[ExecutionRow, bool]:
        """Write the execution before any venue I/O; ``(row, False)`` if the client_order_id is known."""
        now = _now()
        values = dict(
            account=self.account, client_order_id=order.client_order_id, decision_id=order.decision_id,
            request_id=order.request_id, correlation_id=correlation_id, traceparent=traceparent,
            symbol=order.symbol, side=order.side.value,
            qty=order.qty, order_type=order.order_type.value, limit_price=order.limit_price,
            time_in_force=order.time_in_force.value, extended_hours=order.extended_hours,
            reference_price=order.reference_price, approved_at=order.approved_at, expected_adapter=expected.value,
            venue=venue.value, fallback_reason=fallback_reason, submit_state=SubmitState.CLAIMED.value,
            status=OrderStatus.PENDING_NEW.value, filled_qty=Decimal(0), feed_seq=0, unknown_lookups=0,
            created_at=now, updated_at=now,
        )
        async with joined(self.engine, conn) as tx:
            row = (await tx.execute(_CLAIM, values)).first()
        if row is not None:
            return ExecutionRow.from_row(row), True
        existing = await self.get(order.client_order_id, conn)
        assert existing is not None
        return existing, False

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
        """Judge and store ``event``; ``published`` means the caller publishes the update itself (the
        outbox must not), which is only safe inside ``conn``: the caller's transaction must also keep
        what it will publish (the runtime's tracking record does)."""
        assert conn is not None or not published, "published=True needs the caller's transaction"
        venue = event.order.venue.value
        self.metrics.messages.labels(venue=venue, source=event.source.value).inc()
        async with joined(self.engine, conn) as conn:
            row = (await conn.execute(_EXECUTION_FOR_UPDATE, {
                "b_account": self.account, "b_coid": event.order.client_order_id})).first()
            execution = ExecutionRow.from_row(row) if row is not None else None
            if execution is not None:
                event = _enriched(event, execution)
            fingerprint = event_fingerprint(self.account, event)
            if execution is None:
                inserted = await self._insert_event(conn, event, fingerprint, verdict="unlinked", execution=None)
                if inserted is None:
                    self.metrics.duplicates.labels(venue=venue, kind="fingerprint").inc()
                    return Recorded(verdict=None, linked=False)
                self.metrics.events_persisted.labels(venue=venue).inc()
                return Recorded(verdict=FeedVerdict.UNCHANGED, linked=False)

            verdict, update = self._judge(execution, event, fingerprint)
            inserted = await self._insert_event(conn, event, fingerprint, verdict=verdict.value, execution=execution,
                                                update=update, published=published)
            if inserted is None:
                self.metrics.duplicates.labels(venue=venue, kind="fingerprint").inc()
                return Recorded(verdict=None)
            self.metrics.events_persisted.labels(venue=venue).inc()
            self._count(verdict, venue)
            if verdict is FeedVerdict.APPLY:
                await conn.execute(_UPDATE_BY_ID, {"b_id": execution.id, **_applied(execution, event)})
        return Recorded(verdict=verdict, update=update)

    async def record_first(self, execution: ExecutionRow, events: Sequence[VenueEvent], conn: AsyncConnection, *,
                           submit_state: SubmitState, reject_reason: str | None = None) -> list[TradeUpdate]:
        """``record`` for the first events of an execution claimed in ``conn``'s transaction, with its
        submit state: one insert and one update instead of a lock, an insert and an update per event
        and an update for the state (the paper venue's ``new`` and ``fill`` are most of an order's
        statements). The claim holds the row's lock and no event can be stored for it yet, so each
        event is judged against the state the previous one left, in memory; the caller publishes
        the updates (``published``)."""
        rows: list[dict[str, Any]] = []
        updates: list[TradeUpdate] = []
        values: dict[str, Any] = {}
        for event in events:
            venue = event.order.venue.value
            self.metrics.messages.labels(venue=venue, source=event.source.value).inc()
            event = _enriched(event, execution)
            fingerprint = event_fingerprint(self.account, event)
            verdict, update = self._judge(execution, event, fingerprint)
            if update is not None:
                updates.append(update)
            rows.append(self._event_values(event, fingerprint, verdict=verdict.value, execution=execution,
                                           update=update, published=True))
            self.metrics.events_persisted.labels(venue=venue).inc()
            self._count(verdict, venue)
            if verdict is FeedVerdict.APPLY:
                applied = _applied(execution, event)
                values.update(applied)
                execution = _advanced(execution, applied)
        if rows:
            inserted = (await conn.execute(_INSERT_EVENT, rows)).scalars().all()
            if len(inserted) != len(rows):
                raise RuntimeError(f"events of {execution.client_order_id}, claimed in this transaction, were "
                                   "already stored: refusing to record them twice")
        values.update(submit_state=submit_state.value, updated_at=_now())
        if reject_reason is not None:
            values["reject_reason"] = reject_reason[:500]
        await conn.execute(_UPDATE_BY_ID, {"b_id": execution.id, **values})
        return updates

    def _judge(self, execution: ExecutionRow, event: VenueEvent,
               fingerprint: str) -> tuple[FeedVerdict, TradeUpdate | None]:
        """The event's verdict against the execution's state, and the update to publish if it applies."""
        verdict = judge(execution.feed_state(), event)
        if verdict is not FeedVerdict.APPLY:
            return verdict, None
        return verdict, build_trade_update(
            account=self.account, event=event, fingerprint=fingerprint, feed_seq=execution.feed_seq + 1,
            decision_id=execution.decision_id, fallback_reason=execution.fallback_reason,
            delta=fill_delta(execution.feed_state(), event))

    def _count(self, verdict: FeedVerdict, venue: str) -> None:
        if verdict is FeedVerdict.APPLY:
            self.metrics.apply_updates.labels(venue=venue).inc()
        elif verdict is FeedVerdict.UNCHANGED:
            self.metrics.duplicates.labels(venue=venue, kind="state").inc()
        elif verdict.is_stale:
            self.metrics.out_of_order.labels(venue=venue, reason=verdict.value).inc()

    async def _insert_event(self, conn: Any, event: VenueEvent, fingerprint: str, *, verdict: str,
                            execution: ExecutionRow | None, update: TradeUpdate | None = None,
                            published: bool = False) -> int | None:
        values = self._event_values(event, fingerprint, verdict=verdict, execution=execution, update=update,
                                    published=published)
        return (await conn.execute(_INSERT_EVENT, values)).scalar_one_or_none()

    def _event_values(self, event: VenueEvent, fingerprint: str, *, verdict: str, execution: ExecutionRow | None,
                      update: TradeUpdate | None, published: bool) -> dict[str, Any]:
        order = event.order
        return dict(
            fingerprint=fingerprint, execution_id=execution.id if execution else None, account=self.account,
            venue=order.venue.value, client_order_id=order.client_order_id, venue_order_id=order.venue_order_id,
            event=event.event.value, status=order.status.value, filled_qty=order.filled_qty,
            filled_avg_price=order.filled_avg_price, fill_qty=event.fill_qty, fill_price=event.fill_price,
            position_qty=event.position_qty, event_ts=event.timestamp, venue_seq=event.venue_seq,
            source=event.source.value, reason=event.reason, verdict=verdict,
            feed_seq=update.feed_seq if update else None,
            correlation_id=execution.correlation_id if execution else None,
            traceparent=execution.traceparent if execution else None,
            payload=update.model_dump_json() if update else None,
            raw=json.loads(json.dumps(event.raw, default=str)) if event.raw else None, recorded_at=_now(),
            published_at=_now() if published and update is not None else None,
        )

    # -- the outbox -------------------------------------------------------------------------------
    async def pending_publications(self, limit: int = 200) -> list[PendingPublication]:
        return await self.next_publications([], limit)

    async def next_publications(self, published: Sequence[int], limit: int = 200) -> list[PendingPublication]:
        """Mark the previous round ``published`` and read the next pending round in one transaction.

        One connection checkout and commit per outbox round instead of two: the fill that follows a
        ``new`` reaches the broker sooner.
        """
        async with self.engine.begin() as conn:
            if published:
                await conn.execute(execution_events.update().where(execution_events.c.id.in_(list(published)))
                                   .values(published_at=_now()))
            rows = await conn.execute(
                sa.select(execution_events.c.id, execution_events.c.payload, execution_events.c.fingerprint,
                          execution_events.c.correlation_id, execution_events.c.traceparent)
                .where(execution_events.c.payload.is_not(None), execution_events.c.published_at.is_(None))
                .order_by(execution_events.c.id).limit(limit))
            return [PendingPublication(r.id, r.payload, r.fingerprint, r.correlation_id, r.traceparent) for r in rows]

    async def mark_published(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        async with self.engine.begin() as conn:
            await conn.execute(execution_events.update().where(execution_events.c.id.in_(list(ids)))
                               .values(published_at=_now()))

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


def _applied(execution: ExecutionRow, event: VenueEvent) -> dict[str, Any]:
    """The execution's columns after an applied event."""
    order = event.order
    values: dict[str, Any] = {
        "status": order.status.value, "filled_qty": order.filled_qty, "filled_avg_price": order.filled_avg_price,
        "feed_seq": execution.feed_seq + 1, "venue_order_id": order.venue_order_id, "updated_at": _now(),
    }
    if event.is_venue_fact:
        values["last_event_ts"] = max(event.timestamp, execution.last_event_ts or event.timestamp)
        if event.venue_seq is not None:
            values["last_venue_seq"] = max(event.venue_seq, execution.last_venue_seq or 0)
    return values


def _advanced(execution: ExecutionRow, applied: dict[str, Any]) -> ExecutionRow:
    """``execution`` as ``applied`` leaves it (what reading the row again would give)."""
    return replace(execution, status=OrderStatus(applied["status"]), filled_qty=applied["filled_qty"],
                   filled_avg_price=applied["filled_avg_price"], feed_seq=applied["feed_seq"],
                   venue_order_id=applied["venue_order_id"],
                   last_event_ts=applied.get("last_event_ts", execution.last_event_ts),
                   last_venue_seq=applied.get("last_venue_seq", execution.last_venue_seq))


def _enriched(event: VenueEvent, execution: ExecutionRow) -> VenueEvent:
    """Fill what a venue event may omit (its venue order id, whether it may trade outside regular hours)
    from what the router already knows."""
    order = event.order
    known: dict[str, Any] = {}
    if order.venue_order_id is None and execution.venue_order_id is not None:
        known["venue_order_id"] = execution.venue_order_id
    if order.extended_hours is None:
        known["extended_hours"] = execution.extended_hours
    return event.with_order(replace(order, **known)) if known else event
