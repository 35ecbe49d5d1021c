"""The ``torghut.orders.approved.v1`` handler: one approved order, at most one order at one venue.

The execution is claimed (``UNIQUE (account, client_order_id)``) before any venue I/O, so a
redelivered or replayed approval finds it and places nothing (``domain.submission.intake``); a claim
left by a crash is looked up at its venue first and adopted if there.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.enums import Adapter
from torghut_contracts.models import ApprovedOrder
from torghut_runtime import Inbound, Outgoing

from .adapters.executions import ExecutionRow
from .adapters.metrics import RouterMetrics
from .adapters.store import ExecutionStore
from .domain.orders import OrderRequest
from .domain.routing import RouteDecision, resumed_route
from .domain.submission import Intake, intake
from .placement import OrderGate, PaperPlacement, VenuePlacement
from .routes import RouteChooser

log = structlog.get_logger("torghut.execution.router")


class ApprovedOrderIntake:
    def __init__(self, store: ExecutionStore, routes: RouteChooser, gate: OrderGate, placement: VenuePlacement,
                 paper: PaperPlacement, metrics: RouterMetrics) -> None:
        self.store = store
        self.routes = routes
        self.gate = gate
        self.placement = placement
        self.paper = paper
        self.metrics = metrics

    @property
    def account(self) -> str:
        return self.store.account

    async def on_approved(self, inbound: Inbound[ApprovedOrder], conn: AsyncConnection) -> list[Outgoing]:
        order = inbound.payload
        if order.account != self.account:
            log.warning("approved order for another account ignored", account=order.account,
                        client_order_id=order.client_order_id)
            self.metrics.orders.labels(venue="none", outcome="out_of_scope_account").inc()
            return []
        route = await self.routes.choose(order)
        existing: ExecutionRow | None
        if route.adapter is Adapter.PAPER:
            # Claim first: a new order, the usual case, then needs no separate lookup.
            row, claimed = await self.store.claim(
                order, expected=route.expected, venue=Adapter.PAPER, fallback_reason=route.reason,
                correlation_id=inbound.headers.correlation_id, traceparent=inbound.headers.traceparent, conn=conn)
            if claimed:
                self._count_fallback(route)
                return await self.paper.place(row, order, route, conn)
            existing = row
        else:
            existing = await self.store.get(order.client_order_id, conn)

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
