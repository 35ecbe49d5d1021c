"""The router's three Kafka handlers, ``(inbound, conn) -> [Outgoing]``, as ``app.py`` hands them to the runtime.

- ``ApprovedOrderIntake.on_approved`` (``torghut.orders.approved.v1``): one approved order, at most one
  order at one venue. The execution is claimed (``UNIQUE (account, client_order_id)``) before any venue
  I/O, so a redelivered or replayed approval finds it and places nothing (``domain.submission.intake``);
  a claim left by a crash is looked up at its venue first and adopted if there. A paper order, whose
  venue is this database, is written with its placement in the consumer's transaction instead
  (``placement.PaperPlacement``); a group of them is looked up in one statement (``prepare``).
- ``ControlHandler.on_control`` (``torghut.control.v1``): stores the command; an operator's stop (kill
  switch or HALTED) cancels every open order at every venue (``control.py``).
- ``PriceIntake`` (``torghut.ta.signals.v1``): prices for the paper venue, written through the consumer's
  batch transaction. TA signals are the router's highest-volume input. A batch of them is buffered in
  memory and written by ``flush(conn)`` inside the runtime's batch transaction (``PaperVenue.on_prices``):
  one statement for the latest price of every symbol without an open paper order, and for the symbols
  with one, every price in order gets its fill chance. Fills go through the order feed in the same
  transaction and leave through the outbox once it commits, so a batch redelivered after a crash fills
  nothing twice and loses no fill.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.enums import Adapter
from torghut_contracts.models import ApprovedOrder, ControlCommand, TaSignal
from torghut_contracts.posture import applies_to
from torghut_runtime import Inbound, Outgoing

from .adapters.executions import ExecutionRow
from .adapters.metrics import RouterMetrics
from .adapters.store import ExecutionStore
from .adapters.venues.paper.venue import PaperVenue
from .control import ControlPosture, OpenOrderCanceller
from .domain.orders import OrderRequest, VenueEvent
from .domain.paper import Quote
from .domain.routing import RouteDecision, resumed_route
from .domain.submission import Intake, intake
from .placement import OrderGate, PaperPlacement, VenuePlacement
from .routes import RouteChooser

log = structlog.get_logger("torghut.execution.router")

#: Records venue events through the order feed in the given transaction; their updates leave through
#: the outbox once it commits.
RecordAll = Callable[[Iterable[VenueEvent], AsyncConnection], Awaitable[Any]]


class ApprovedOrderIntake:
    """The ``torghut.orders.approved.v1`` handler: one approved order, at most one order at one venue."""

    def __init__(self, store: ExecutionStore, routes: RouteChooser, gate: OrderGate, placement: VenuePlacement,
                 paper: PaperPlacement, metrics: RouterMetrics) -> None:
        self.store = store
        self.routes = routes
        self.gate = gate
        self.placement = placement
        self.paper = paper
        self.metrics = metrics
        self._known: dict[str, ExecutionRow] = {}
        """The executions a prepared group's orders already have (``prepare``), until the group is written."""
        self._looked_up: dict[str, str] = {}
        """The prepared group's orders: client order id to symbol."""

    @property
    def account(self) -> str:
        return self.store.account

    async def __call__(self, inbound: Inbound[ApprovedOrder], conn: AsyncConnection) -> list[Outgoing]:
        return await self.on_approved(inbound, conn)

    async def prepare(self, conn: AsyncConnection, inbounds: Sequence[Inbound[ApprovedOrder]]) -> None:
        """A group's orders (group commit): which of them the router already has, in one statement."""
        group = {i.payload.client_order_id: i.payload.symbol for i in inbounds if i.payload.account == self.account}
        self._known, self._looked_up = await self.store.known(list(group), conn), group

    async def flush(self, conn: AsyncConnection) -> None:
        """End of the runtime's transaction (a group of orders): write what it placed at the paper venue."""
        self._known, self._looked_up = {}, {}
        await self.paper.flush(conn)

    def discard(self) -> None:
        """The runtime's transaction rolled back: forget what it placed and read."""
        self._known, self._looked_up = {}, {}
        self.paper.discard()

    async def _existing(self, client_order_id: str, conn: AsyncConnection) -> ExecutionRow | None:
        """The order's execution: placed earlier in this transaction, read by ``prepare``, or read now."""
        placed = self.paper.placed(client_order_id)
        if placed is not None or client_order_id in self._looked_up:
            return placed or self._known.get(client_order_id)
        return await self.store.get(client_order_id, conn)

    async def on_approved(self, inbound: Inbound[ApprovedOrder], conn: AsyncConnection) -> list[Outgoing]:
        order = inbound.payload
        if order.account != self.account:
            log.warning("approved order for another account ignored", account=order.account,
                        client_order_id=order.client_order_id)
            self.metrics.orders.labels(venue="none", outcome="out_of_scope_account").inc()
            return []
        route = await self.routes.choose(order)
        existing = await self._existing(order.client_order_id, conn)
        if existing is None and route.adapter is Adapter.PAPER:
            self._count_fallback(route)
            return await self.paper.place(order, route, inbound.headers, conn, self._looked_up)

        step = intake(existing.submit_state if existing is not None else None)
        if existing is not None and step is Intake.REPLAY:
            self.metrics.orders.labels(venue=existing.venue.value, outcome="replay").inc()
            return []
        if existing is not None and step is Intake.RECOVER:
            row, route = existing, resumed_route(existing.venue, existing.expected_adapter, self.routes.policy)
            if await self.placement.adopt(row):
                return []
        else:
            self._count_fallback(route)
            row, _ = await self.store.claim(order, expected=route.expected, venue=route.adapter or route.expected,
                                            fallback_reason=route.reason if route.adapter is not None else None,
                                            correlation_id=inbound.headers.correlation_id,
                                            traceparent=inbound.headers.traceparent)

        reason = await self.gate.refusal(order, route)
        if reason is not None:
            await self.placement.refuse(row, route.adapter or route.expected, reason)
            return []
        await self.placement.submit(row, route, OrderRequest.from_approved(order))
        return []

    def _count_fallback(self, route: RouteDecision) -> None:
        if route.adapter is not None and route.reason is not None:
            self.metrics.fallbacks.labels(reason=route.reason).inc()


class ControlHandler:
    """The ``torghut.control.v1`` handler: stores the command; an operator's stop cancels open orders."""

    def __init__(self, store: ExecutionStore, posture: ControlPosture, canceller: OpenOrderCanceller) -> None:
        self.store = store
        self.posture = posture
        self.canceller = canceller

    async def on_control(self, inbound: Inbound[ControlCommand], conn: AsyncConnection) -> list[Outgoing]:
        command = inbound.payload
        if not applies_to(command, self.posture.account):
            return []
        applied = await self.store.save_control(command)
        cancels = await self.posture.cancels_open_orders()
        log.info("control command", scope=command.scope, kill_switch=command.kill_switch,
                 trading_state=command.trading_state.value, applied=applied, cancels_open_orders=cancels)
        if applied and cancels:
            await self.canceller.cancel_open_orders()
        return []


def quote_of(signal: TaSignal) -> Quote | None:
    """The signal's mark price (``TaSignal.mark_price``); ``None`` when it carries none: no price, no fill."""
    price = signal.mark_price
    if price is None:
        return None
    return Quote(signal.symbol, Decimal(price), signal.event_ts, signal.seq)


class PriceIntake:
    """The ``torghut.ta.signals.v1`` handler: buffers prices per batch, writes them in ``flush(conn)``.

    The runtime calls ``flush`` once per batch transaction (inside it) and ``discard`` when that
    transaction rolls back, so the buffer never outlives its transaction.
    """

    def __init__(self, paper: PaperVenue, record_all: RecordAll) -> None:
        self.paper = paper
        self.record_all = record_all
        self._pending: dict[str, list[Quote]] = {}

    async def __call__(self, inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        quote = quote_of(inbound.payload)
        if quote is None:
            return []  # the paper venue waits for a price
        held = self._pending.setdefault(quote.symbol, [])
        if not held or quote.is_newer_than(held[-1]):
            held.append(quote)  # an older price within the batch changes nothing, as in the venue
        return []

    async def flush(self, conn: AsyncConnection) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        events = await self.paper.on_prices(conn, pending)
        if events:
            await self.record_all(events, conn)

    def discard(self) -> None:
        self._pending = {}
