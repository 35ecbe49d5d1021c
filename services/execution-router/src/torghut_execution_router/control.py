"""The operator's posture from ``torghut.control.v1``: read before each order, and enforced.

A kill switch or HALTED commanded by an operator cancels every open order at every venue; the
reconciler retries the cancels each round while the stop holds (``domain.control``). The handler that
stores the commands is ``handlers.ControlHandler``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.enums import Adapter
from torghut_contracts.posture import posture_for

from .adapters.metrics import RouterMetrics
from .adapters.store import ExecutionStore
from .adapters.venues.base import Venue, VenueUnavailable
from .domain.control import block_reason, cancels_open_orders
from .recorder import ExecutionRecorder

log = structlog.get_logger("torghut.execution.router")

#: Waits until every control command on the topic now has been applied; False if not in time.
ReadThrough = Callable[[], Awaitable[bool]]


class ControlPosture:
    """The posture of ``account`` as the stored commands make it (``torghut_contracts.posture``)."""

    def __init__(self, store: ExecutionStore, account: str, read_through: ReadThrough | None = None) -> None:
        self.store = store
        self.account = account
        self.read_through = read_through

    async def block_reason(self, conn: AsyncConnection | None = None) -> str | None:
        """Why no new order may be sent now, or None.

        Control and approved orders have separate consumers, so an order may have been read before a
        command produced ahead of it (say, the one that turned the kill switch off): a blocking posture
        is judged again on every command on the topic now, or, if they are not applied in time, on
        what is known (still a refusal: fail closed).
        """
        reason = block_reason(posture_for(await self.store.control_commands(conn), self.account))
        if reason is not None and self.read_through is not None and await self.read_through():
            reason = block_reason(posture_for(await self.store.control_commands(conn), self.account))
        return reason

    async def cancels_open_orders(self) -> bool:
        """An operator's stop (kill switch or HALTED) is in force."""
        return cancels_open_orders(posture_for(await self.store.control_commands(), self.account))


class OpenOrderCanceller:
    """Cancels every open order at every configured venue (and every one the router thinks is open)."""

    def __init__(self, store: ExecutionStore, venues: Mapping[Adapter, Venue], recorder: ExecutionRecorder,
                 metrics: RouterMetrics) -> None:
        self.store = store
        self.venues = venues
        self.recorder = recorder
        self.metrics = metrics

    async def cancel_open_orders(self) -> int:
        cancelled = 0
        for name, venue in self.venues.items():
            try:
                targets = {o.client_order_id: o for o in await venue.list_open()}
                for row in await self.store.open_executions(name):
                    targets.setdefault(row.client_order_id, row.venue_order())
                for order in targets.values():
                    events = await venue.cancel(order)
                    self.metrics.cancels.labels(venue=name.value).inc()
                    await self.recorder.record(events)
                    cancelled += 1
            except VenueUnavailable as exc:
                self.metrics.consumer_errors.labels(source=f"cancel_{name.value}").inc()
                log.warning("could not cancel open orders; will retry", venue=name.value, error=str(exc))
        return cancelled
