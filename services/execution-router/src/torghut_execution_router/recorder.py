"""Writing what happens to executions: venue events through the order feed, and submission transitions.

Every venue event enters the order feed here (``ExecutionStore.record``), whoever saw it: a
submission's answer, the Alpaca stream, a reconciliation, a paper fill on a new price, a cancel.
Alone, each is its own transaction and its trade update leaves through the outbox; in a caller's
transaction the caller publishes the updates returned (a paper order's handler), or the outbox does
once that transaction commits (a price batch). Recording wakes the loops that act on it: the outbox
relay for an update, the snapshot publisher for a fill at the account's venue, the reconciler for an
unknown outcome.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.enums import FILL_EVENTS, Adapter
from torghut_contracts.models import TradeUpdate
from torghut_runtime import after_commit
from torghut_runtime.settings import JudgingClock, judging_clock

from .adapters.executions import ExecutionRow
from .adapters.metrics import RouterMetrics
from .adapters.store import ExecutionStore, FirstEvents
from .domain.orders import VenueEvent, VenueOrder, reconcile_event
from .domain.submission import Transition, refused, router_event
from .wake import Wakes

log = structlog.get_logger("torghut.execution.router")


def _now() -> datetime:
    return datetime.now(UTC)


class ExecutionRecorder:
    def __init__(self, store: ExecutionStore, metrics: RouterMetrics, wakes: Wakes, *,
                 account_venue: Adapter | None, clock: JudgingClock = judging_clock("wall")) -> None:
        self.store = store
        self.metrics = metrics
        self.wakes = wakes
        self.account_venue = account_venue
        """The venue whose fills change the account snapshot."""
        self.clock = clock
        """The time of the router's own reports, given the order's latest known time."""

    async def record(self, events: Iterable[VenueEvent], conn: AsyncConnection | None = None, *,
                     caller_publishes: bool = True) -> list[TradeUpdate]:
        """Pass ``events`` through the order feed. Alone, each is its own transaction and its update
        leaves through the outbox. In ``conn`` the caller publishes the updates returned, unless
        ``caller_publishes`` is false: then the outbox does, once ``conn``'s transaction commits."""
        published = conn is not None and caller_publishes
        updates = []
        for event in events:
            update = (await self.store.record(event, conn, published=published)).update
            if update is None:
                continue
            updates.append(update)
            if conn is None:
                self.wakes.outbox.notify("update")
            elif not published:
                after_commit(functools.partial(self.wakes.outbox.notify, "update"))
            if event.event in FILL_EVENTS and event.order.venue is self.account_venue:
                # In ``conn`` the snapshot still reflects the fill: it locks the paper account,
                # which this transaction holds until it commits.
                self.wakes.snapshots.notify("fill")
        return updates

    async def on_stream_event(self, event: VenueEvent) -> None:
        await self.record([event])

    async def record_lookup(self, order: VenueOrder) -> list[TradeUpdate]:
        """A venue's answer to a lookup (a reconciliation, a claim found at the venue), as an event."""
        return await self.record([reconcile_event(order, _now())])

    async def transition(self, row: ExecutionRow, venue: Adapter, transition: Transition,
                         events: Sequence[VenueEvent] = ()) -> list[TradeUpdate]:
        """Move ``row``'s submission to ``transition``'s state and record what reports it (each in its own
        transaction: the claim was committed before the venue was called)."""
        await self.store.set_submit_state(row.client_order_id, transition.state, reject_reason=transition.reason)
        updates = await self.record(self.reports(row, venue, transition, events))
        if transition.reconcile:
            self.wakes.reconciler.notify("unknown")
        return updates

    def judge_first(self, row: ExecutionRow, venue: Adapter, transition: Transition,
                    events: Sequence[VenueEvent]) -> FirstEvents:
        """``transition`` for an execution placed in the caller's transaction and not written yet, with
        what reports it, through the order feed in memory (``ExecutionStore.judge_first``); the caller
        writes the result and publishes its updates."""
        reports = self.reports(row, venue, transition, events)
        first = self.store.judge_first(row, reports, submit_state=transition.state, reject_reason=transition.reason)
        if self.account_venue is venue and any(e.event in FILL_EVENTS for e in reports):
            self.wakes.snapshots.notify("fill")  # it waits for the commit: the snapshot locks the paper account
        if transition.reconcile:
            self.wakes.reconciler.notify("unknown")
        return first

    async def refuse(self, row: ExecutionRow, venue: Adapter, reason: str) -> list[TradeUpdate]:
        """The router refuses the order (no venue is called, or none acknowledged it): ``rejected``."""
        self.count_refusal(row, venue, reason)
        return await self.transition(row, venue, refused(reason))

    def count_refusal(self, row: ExecutionRow, venue: Adapter, reason: str) -> None:
        log.info("order refused by the router", client_order_id=row.client_order_id, reason=reason)
        self.metrics.orders.labels(venue=venue.value, outcome="refused").inc()

    def reports(self, row: ExecutionRow, venue: Adapter, transition: Transition,
                events: Sequence[VenueEvent]) -> list[VenueEvent]:
        """The venue's events, or the router's own when the transition calls for one."""
        if transition.report is None:
            return list(events)
        return [router_event(row.venue_order(), venue, transition.report, transition.reason,
                             self.clock(row.last_event_ts or row.approved_at))]
