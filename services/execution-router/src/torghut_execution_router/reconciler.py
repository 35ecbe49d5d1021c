"""REST reconciliation against the venues: what the router missed, and outcomes it does not know.

Every order still open is looked up at its venue: on a timer (``RECONCILE_INTERVAL_S``), at once
after an unknown outcome, and at every (re)connection of the Alpaca stream, which never replays what
it missed. A lookup that finds a change records it through the order feed; an unknown outcome that
stays not found is, after ``RECONCILE_UNKNOWN_MAX_LOOKUPS`` lookups, a rejection
(``domain.submission``). A claim abandoned by its handler becomes unknown, and so is looked up too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta

import structlog
from torghut_contracts.enums import Adapter
from torghut_runtime.wake import Wake

from .adapters.executions import ExecutionRow
from .adapters.metrics import RouterMetrics
from .adapters.store import ExecutionStore
from .adapters.venues.base import Venue, VenueUnavailable
from .control import ControlPosture, OpenOrderCanceller
from .domain.feed import reports_change
from .domain.orders import VenueOrder
from .domain.submission import ABANDONED_CLAIM, counts_lookups, found_at_venue, never_acknowledged
from .recorder import ExecutionRecorder

log = structlog.get_logger("torghut.execution.router")


def _now() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    def __init__(self, store: ExecutionStore, venues: Mapping[Adapter, Venue], recorder: ExecutionRecorder,
                 metrics: RouterMetrics, *, unknown_max_lookups: int, claim_recovery_s: float,
                 clock: Callable[[], datetime] = _now) -> None:
        self.store = store
        self.venues = venues
        self.recorder = recorder
        self.metrics = metrics
        self.unknown_max_lookups = unknown_max_lookups
        self.claim_recovery_s = claim_recovery_s
        self.clock = clock

    async def reconcile(self, venue_name: Adapter, trigger: str) -> None:
        rows = await self.store.open_executions(venue_name)
        self.metrics.reconciles.labels(venue=venue_name.value, trigger=trigger).inc()
        if not rows:
            return
        venue = self.venues[venue_name]
        try:
            listed = {o.client_order_id: o for o in await venue.list_open()}
        except VenueUnavailable:
            listed = {}
        for row in rows:
            order = listed.get(row.client_order_id)
            if order is None:
                try:
                    order = await venue.get_by_client_order_id(row.client_order_id)
                except VenueUnavailable as exc:
                    log.info("lookup failed; will retry", client_order_id=row.client_order_id, error=str(exc))
                    continue
            await self._settle(row, order)

    async def _settle(self, row: ExecutionRow, order: VenueOrder | None) -> None:
        """Bring ``row`` in line with what its venue said (``order``; None: not found)."""
        if order is None:
            if counts_lookups(row.submit_state):
                reason = never_acknowledged(await self.store.count_unknown_lookup(row.client_order_id),
                                            self.unknown_max_lookups)
                if reason is not None:
                    await self.recorder.refuse(row, row.venue, reason)
            return
        state = found_at_venue(row.submit_state)
        if state is not None:
            await self.store.set_submit_state(row.client_order_id, state)
        if reports_change(row.feed_state(), order):
            await self.recorder.record_lookup(order)

    async def reconcile_all(self, trigger: str, venues: Iterable[Adapter] | None = None) -> None:
        for name in list(venues or self.venues):
            try:
                await self.reconcile(name, trigger)
            except Exception:
                self.metrics.consumer_errors.labels(source=f"reconcile_{name.value}").inc()
                log.exception("reconciliation failed", venue=name.value)

    async def recover_stale_claims(self) -> int:
        """A claim older than ``claim_recovery_s`` lost its handler: it may or may not have reached the venue,
        which is exactly 'unknown' — the lookups decide."""
        stale = await self.store.stale_claims(self.clock() - timedelta(seconds=self.claim_recovery_s))
        for row in stale:
            log.warning("recovering an abandoned claim", client_order_id=row.client_order_id, venue=row.venue.value)
            await self.store.set_submit_state(row.client_order_id, ABANDONED_CLAIM.state,
                                              reject_reason=ABANDONED_CLAIM.reason)
        return len(stale)


class ReconcileLoop:
    """When reconciliation runs: at start-up, on the timer, when woken; and each round, while an
    operator's stop holds, the cancels are sent again (a venue may have been unavailable)."""

    def __init__(self, reconciler: Reconciler, posture: ControlPosture, canceller: OpenOrderCanceller,
                 wake: Wake, interval_s: float) -> None:
        self.reconciler = reconciler
        self.posture = posture
        self.canceller = canceller
        self.wake = wake
        self.interval_s = interval_s

    def on_stream_connected(self) -> None:
        """Every (re)connection of the Alpaca stream: what happened while it was away comes from REST."""
        self.wake.notify("alpaca_reconnect")

    async def run(self) -> None:
        reasons = {"startup"}
        while True:
            if "alpaca_reconnect" in reasons and Adapter.ALPACA in self.reconciler.venues:
                await self.reconciler.reconcile_all("reconnect", [Adapter.ALPACA])
                reasons.discard("alpaca_reconnect")
            if reasons:
                await self.reconciler.recover_stale_claims()
                await self.reconciler.reconcile_all(sorted(reasons)[0])
            if await self.posture.cancels_open_orders():
                await self.canceller.cancel_open_orders()
            reasons = await self.wake.wait(self.interval_s)
