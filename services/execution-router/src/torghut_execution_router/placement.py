"""Placing a claimed order: the router's own checks first, then the venue, then what it answered.

Alpaca and LEAN keep the claim-first protocol: the claim is committed before the venue is called and
every update leaves through the outbox. An order routed to the paper venue, which is the router's
own database, is placed in the consumer's transaction instead (``PaperPlacement``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import topics
from torghut_contracts.enums import Adapter
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import ApprovedOrder
from torghut_runtime import Outgoing
from torghut_runtime.settings import JudgingClock, judging_clock

from .adapters.executions import ExecutionRow
from .adapters.metrics import RouterMetrics
from .adapters.store import ExecutionStore, FirstEvents
from .adapters.venues.base import Venue, VenueFailure
from .adapters.venues.paper.venue import PaperVenue
from .control import ControlPosture
from .domain.orders import OrderRequest
from .domain.routing import RouteDecision, fallback_route
from .domain.submission import SubmitKind, SubmitOutcome, after_outcome, found_at_venue, refusal, refused
from .domain.trade_update import trade_update_message_id
from .recorder import ExecutionRecorder
from .routes import LeanHealth

log = structlog.get_logger("torghut.execution.router")


class OrderGate:
    """Why the router refuses an order before any venue is called (``domain.submission.refusal``)."""

    def __init__(self, posture: ControlPosture, max_order_age_s: float,
                 clock: JudgingClock = judging_clock("wall")) -> None:
        self.posture = posture
        self.max_order_age_s = max_order_age_s
        self.clock = clock

    async def refusal(self, order: ApprovedOrder, route: RouteDecision,
                      conn: AsyncConnection | None = None) -> str | None:
        return self.refusal_under(await self.posture.block_reason(conn), order, route)

    def refusal_under(self, block: str | None, order: ApprovedOrder, route: RouteDecision) -> str | None:
        """The refusal given the operator's posture ``block`` (``ControlPosture.block_reason``), read once
        for a group of orders."""
        age = self.clock(order.approved_at) - order.approved_at
        return refusal(block, age=age, max_order_age_s=self.max_order_age_s, route=route)


class VenuePlacement:
    """Submits a claimed order to its venue, to the fallback if LEAN fails, and records the outcome."""

    def __init__(self, venues: Mapping[Adapter, Venue], store: ExecutionStore, recorder: ExecutionRecorder,
                 lean: LeanHealth, metrics: RouterMetrics) -> None:
        self.venues = venues
        self.store = store
        self.recorder = recorder
        self.lean = lean
        self.metrics = metrics

    async def submit(self, row: ExecutionRow, route: RouteDecision, request: OrderRequest) -> None:
        assert route.adapter is not None
        venue = route.adapter
        try:
            outcome = await self.venues[venue].submit(request)
        except VenueFailure as failure:
            if venue is Adapter.LEAN:
                self.lean.mark_unhealthy()
            self.metrics.fallbacks.labels(reason=failure.reason).inc()
            rerouted = fallback_route(route, failure.reason)
            if rerouted is None or rerouted.adapter is None:
                await self.recorder.refuse(row, venue, failure.reason)
                return
            log.warning("venue failed; falling back", client_order_id=row.client_order_id, venue=venue.value,
                        fallback=rerouted.adapter.value, reason=failure.reason)
            venue = rerouted.adapter
            await self.store.set_route(row.client_order_id, venue=venue, fallback_reason=rerouted.reason)
            outcome = await self.venues[venue].submit(request)
        await self.record_outcome(row, venue, outcome)

    async def refuse(self, row: ExecutionRow, venue: Adapter, reason: str) -> None:
        """Refuse the order before its venue is called."""
        await self.recorder.refuse(row, venue, reason)

    async def record_outcome(self, row: ExecutionRow, venue: Adapter, outcome: SubmitOutcome) -> None:
        self.metrics.orders.labels(venue=venue.value, outcome=outcome.kind.value).inc()
        if outcome.kind is SubmitKind.UNKNOWN:
            log.warning("order outcome unknown; reconciling by client_order_id", client_order_id=row.client_order_id,
                        venue=venue.value, reason=outcome.reason)
        await self.recorder.transition(row, venue, after_outcome(outcome), outcome.events)

    async def adopt(self, row: ExecutionRow) -> bool:
        """A claim left by an earlier attempt: if the venue has the order, adopt it (True) rather than resend."""
        found = await self.venues[row.venue].get_by_client_order_id(row.client_order_id)
        if found is None:
            return False
        state = found_at_venue(row.submit_state)
        if state is not None:
            await self.store.set_submit_state(row.client_order_id, state)
        await self.recorder.record_lookup(found)
        return True


class PaperPlacement:
    """Places a new paper order in the consumer's transaction: the paper venue is this database.

    With no I/O outside Postgres there is no window for a claim to cover (a crash rolls the order and
    the venue's books back together and the message is redelivered), so nothing is written until the
    transaction's ``flush``: then the group's new executions, their first events and the paper books
    go in a few statements whatever the group's size. The operator's posture is read once per
    transaction: a stop committed while a group is placed applies from the next group (tens of
    milliseconds; control and orders are separate consumers, so their order was never guaranteed).
    The trade updates leave as the handler's outputs: published before the offset commit and kept in
    the tracking record for a redelivery, instead of waiting for the outbox loop. Their message ids
    are the outbox's, so a consumer deduplicates across both paths.
    """

    def __init__(self, paper: PaperVenue, gate: OrderGate, store: ExecutionStore, recorder: ExecutionRecorder,
                 metrics: RouterMetrics) -> None:
        self.paper = paper
        self.gate = gate
        self.store = store
        self.recorder = recorder
        self.metrics = metrics
        self._new: dict[str, tuple[dict[str, Any], FirstEvents]] = {}
        """What the transaction placed, by client order id: the execution's row and its first events."""
        self._placed: dict[str, ExecutionRow] = {}
        self._block: tuple[str | None] | None = None
        """The posture read in this transaction (a 1-tuple, so that 'no block' is not 'not read')."""

    def placed(self, client_order_id: str) -> ExecutionRow | None:
        """The execution this transaction placed for ``client_order_id``, not written yet."""
        return self._placed.get(client_order_id)

    async def place(self, order: ApprovedOrder, route: RouteDecision, headers: MessageHeaders,
                    conn: AsyncConnection, expected: Mapping[str, str] | None = None) -> list[Outgoing]:
        """Place ``order``, which has no execution yet; ``expected``: its group's orders, client order id
        to symbol (``PaperVenue.submit_held``)."""
        values = self.store.claim_values(order, expected=route.expected, venue=Adapter.PAPER,
                                         fallback_reason=route.reason, correlation_id=headers.correlation_id,
                                         traceparent=headers.traceparent)
        row = ExecutionRow.from_values(values, 0)
        if self._block is None:
            self._block = (await self.gate.posture.block_reason(conn),)
        reason = self.gate.refusal_under(self._block[0], order, route)
        if reason is not None:
            self.recorder.count_refusal(row, Adapter.PAPER, reason)
            transition, events = refused(reason), []
        else:
            outcome = await self.paper.submit_held(OrderRequest.from_approved(order), conn, expected)
            self.metrics.orders.labels(venue=Adapter.PAPER.value, outcome=outcome.kind.value).inc()
            transition, events = after_outcome(outcome), outcome.events
        first = self.recorder.judge_first(row, Adapter.PAPER, transition, events)
        self._new[order.client_order_id] = (values, first)
        self._placed[order.client_order_id] = ExecutionRow.from_values({**values, **first.columns}, 0)
        return [Outgoing(topics.TRADE_UPDATES, update, message_id=trade_update_message_id(update.fingerprint),
                         correlation_id=row.correlation_id) for update in first.updates]

    async def flush(self, conn: AsyncConnection) -> None:
        """Write what the transaction placed: its executions and their events, then the paper books."""
        new, self._new, self._placed, self._block = list(self._new.values()), {}, {}, None
        if new:
            await self.store.insert_new(conn, new)
        await self.paper.flush_held(conn)

    def discard(self) -> None:
        self._new, self._placed, self._block = {}, {}, None
        self.paper.discard_held()
