"""The router: approved orders to venues, venue events to the order feed, posture to cancels.

Handlers and loops only orchestrate; decisions are made by the pure core (routing, control posture,
order-feed rules, the paper fill model) and every venue event passes through ``ExecutionStore.record``.
Trade updates leave through the store's outbox (``run_outbox``), whatever produced them: a submission,
the Alpaca stream, a reconciliation, a paper fill on a new price, or a cancel. The one exception is an
order placed on the paper venue, which shares the router's database: it is claimed, submitted and
recorded in the consumer's transaction and its updates are the handler's outputs (``_place_on_paper``).
Prices (TA signals) are buffered per consumer batch and written in the batch's transaction
(``prices.PriceSignalHandler``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from opentelemetry import propagate, trace
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import topics
from torghut_contracts.enums import FILL_EVENTS, Adapter, OrderStatus, TradeEvent
from torghut_contracts.headers import MessageHeaders, derived_message_id
from torghut_contracts.models import AccountSnapshot, ApprovedOrder, ControlCommand, TradeUpdate
from torghut_contracts.posture import applies_to, posture_for
from torghut_runtime import Inbound, Outgoing, after_commit

from .adapters.lean import LeanAdapter
from .adapters.metrics import RouterMetrics
from .adapters.paper_venue import PaperVenue
from .adapters.store import ExecutionRow, ExecutionStore, PendingPublication, SubmitState
from .adapters.venue import AccountSource, SubmitKind, SubmitOutcome, Venue, VenueFailure, VenueUnavailable
from .domain.control import block_reason, cancels_open_orders
from .domain.orders import EventSource, OrderRequest, VenueEvent, VenueOrder, state_event
from .domain.routing import RouteDecision, RoutingPolicy, choose_route
from .prices import PriceSignalHandler

log = structlog.get_logger("torghut.execution.router")
Publish = Callable[..., Awaitable[Any]]


def _span_of(traceparent: str | None) -> trace.Span:
    """A non-recording span carrying ``traceparent``'s context (the invalid span when there is none)."""
    if not traceparent:
        return trace.INVALID_SPAN
    return trace.get_current_span(propagate.extract({"traceparent": traceparent}))


def _now() -> datetime:
    return datetime.now(UTC)


def trade_update_message_id(fingerprint: str) -> str:
    """One id per venue event, whichever path (outbox or consumer output) publishes its update."""
    return derived_message_id("trade-update", fingerprint)


def _same_state(row: ExecutionRow, order: VenueOrder) -> bool:
    return (row.status is order.status and row.filled_qty == order.filled_qty
            and row.filled_avg_price == order.filled_avg_price)


class _Wake:
    """An event with reasons: a loop sleeps until its period ends or someone names a reason to run."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._reasons: set[str] = set()

    def notify(self, reason: str) -> None:
        self._reasons.add(reason)
        self._event.set()

    def drain(self) -> set[str]:
        """Forget the reasons named so far (they are being served now)."""
        self._event.clear()
        reasons, self._reasons = self._reasons, set()
        return reasons

    async def wait(self, timeout: float) -> set[str]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()
        reasons, self._reasons = self._reasons or {"timer"}, set()
        return reasons


class ExecutionRouter:
    @property
    def policy(self) -> RoutingPolicy:
        """The routing policy for the next order: the configured one, or as the feature flags make it."""
        return self._policy if self._policy_source is None else self._policy_source()

    def __init__(self, *, account: str, policy: RoutingPolicy, store: ExecutionStore, venues: Mapping[Adapter, Venue],
                 paper: PaperVenue, lean: LeanAdapter | None, account_source: AccountSource | None,
                 account_venue: Adapter | None, metrics: RouterMetrics, publish: Publish,
                 max_order_age_s: float, reconcile_interval_s: float, unknown_max_lookups: int,
                 snapshot_interval_s: float, outbox_poll_s: float, lean_health_interval_s: float,
                 claim_recovery_s: float = 120.0, snapshot_fill_settle_s: float = 0.0,
                 control_read_through: Callable[[], Awaitable[bool]] | None = None,
                 clock: Callable[[], datetime] = _now,
                 policy_source: Callable[[], RoutingPolicy] | None = None) -> None:
        self.account = account
        self._policy = policy
        self._policy_source = policy_source
        """The policy read per order (feature flags); None: ``policy`` always."""
        self.store = store
        self.venues = dict(venues)
        self.paper = paper
        self.lean = lean
        self.account_source = account_source
        self.account_venue = account_venue
        self.metrics = metrics
        self.publish = publish
        self.max_order_age_s = max_order_age_s
        self.reconcile_interval_s = reconcile_interval_s
        self.unknown_max_lookups = unknown_max_lookups
        self.snapshot_interval_s = snapshot_interval_s
        self.snapshot_fill_settle_s = snapshot_fill_settle_s
        self.outbox_poll_s = outbox_poll_s
        self.lean_health_interval_s = lean_health_interval_s
        self.claim_recovery_s = claim_recovery_s
        self.control_read_through = control_read_through
        """Waits until every control command on the topic now has been applied; False if not in time."""
        self.clock = clock
        self.outbox_wake = _Wake()
        self.snapshot_wake = _Wake()
        self.reconcile_wake = _Wake()
        self.on_signal = PriceSignalHandler(paper, functools.partial(self.record_all, caller_publishes=False))
        """The TA-signal handler: prices buffered per batch and written in its transaction (``prices``)."""

    # -- consumers ---------------------------------------------------------------------------------
    async def on_approved(self, inbound: Inbound[ApprovedOrder], conn: AsyncConnection) -> list[Outgoing]:
        order = inbound.payload
        if order.account != self.account:
            log.warning("approved order for another account ignored", account=order.account,
                        client_order_id=order.client_order_id)
            self.metrics.orders.labels(venue="none", outcome="out_of_scope_account").inc()
            return []
        request = OrderRequest.from_approved(order)
        route = choose_route(order.symbol, order.adapter_hint, self.policy, lean_healthy=await self._lean_healthy())
        existing: ExecutionRow | None
        if route.adapter is Adapter.PAPER:
            # Claim first: a new order, the usual case, then needs no separate lookup.
            row, claimed = await self.store.claim(
                order, expected=route.expected, venue=Adapter.PAPER, fallback_reason=route.reason,
                correlation_id=inbound.headers.correlation_id, traceparent=inbound.headers.traceparent, conn=conn)
            if claimed:
                self._count_fallback(route)
                return await self._place_on_paper(row, order, request, conn)
            existing = row
        else:
            existing = await self.store.get(order.client_order_id, conn)
        if existing is not None and existing.submit_state is not SubmitState.CLAIMED:
            # A replay or a second approval with the same client_order_id: never a second order.
            self.metrics.orders.labels(venue=existing.venue.value, outcome="replay").inc()
            return []
        if existing is None:
            self._count_fallback(route)
            row, _ = await self.store.claim(order, expected=route.expected, venue=route.adapter or route.expected,
                                            fallback_reason=route.reason if route.adapter is not None else None,
                                            correlation_id=inbound.headers.correlation_id,
                                            traceparent=inbound.headers.traceparent)
        else:
            # An earlier attempt crashed after claiming: the venue may already have the order.
            row = existing
            route = RouteDecision(adapter=row.venue, expected=row.expected_adapter,
                                  fallback=self.policy.fallback if row.venue is Adapter.LEAN else None)
            found = await self.venues[row.venue].get_by_client_order_id(order.client_order_id)
            if found is not None:
                await self.store.set_submit_state(row.client_order_id, SubmitState.ACKNOWLEDGED)
                await self.record_all([self._reconcile_event(found)])
                return []

        refusal = await self._refusal(order)
        if refusal is None and route.adapter is None:
            refusal = route.reason or "no_route"
        if refusal is not None:
            await self._reject(row, route.adapter or route.expected, refusal)
            return []
        assert route.adapter is not None
        await self._submit(row, route, request)
        return []

    def _count_fallback(self, route: RouteDecision) -> None:
        if route.adapter is not None and route.reason is not None:
            self.metrics.fallbacks.labels(reason=route.reason).inc()

    async def _place_on_paper(self, row: ExecutionRow, order: ApprovedOrder, request: OrderRequest,
                              conn: AsyncConnection) -> list[Outgoing]:
        """Submit and record a claimed order in the consumer's transaction: the paper venue is this database.

        With no I/O outside Postgres there is no window for a claim to cover (a crash rolls the claim
        and the venue's books back together and the message is redelivered), and the trade updates
        leave as the handler's outputs: published before the offset commit and kept in the tracking
        record for a redelivery, instead of waiting for the outbox loop. Their message ids are the
        outbox's, so a consumer deduplicates across both paths.
        """
        refusal = await self._refusal(order, conn)
        if refusal is not None:
            log.info("order refused by the router", client_order_id=row.client_order_id, reason=refusal)
            self.metrics.orders.labels(venue=Adapter.PAPER.value, outcome="refused").inc()
            events = [self._router_event(row, Adapter.PAPER, OrderStatus.REJECTED, TradeEvent.REJECTED, refusal)]
            updates = await self.store.record_first(row, events, conn, submit_state=SubmitState.REJECTED,
                                                    reject_reason=refusal)
        else:
            outcome = await self.paper.submit(request, conn)
            if outcome.kind is SubmitKind.UNKNOWN:
                updates = await self._apply_outcome(row, Adapter.PAPER, outcome, conn)
            else:
                self.metrics.orders.labels(venue=Adapter.PAPER.value, outcome=outcome.kind.value).inc()
                accepted = outcome.kind is SubmitKind.ACCEPTED
                events = list(outcome.events) or [self._router_event(
                    row, Adapter.PAPER, OrderStatus.REJECTED, TradeEvent.REJECTED, outcome.reason)]
                updates = await self.store.record_first(
                    row, events, conn, submit_state=SubmitState.ACKNOWLEDGED if accepted else SubmitState.REJECTED,
                    reject_reason=None if accepted else outcome.reason)
                if self.account_venue is Adapter.PAPER and any(e.event in FILL_EVENTS for e in events):
                    self.snapshot_wake.notify("fill")  # after the commit: the snapshot locks the paper account
        return [Outgoing(topics.TRADE_UPDATES, update, message_id=trade_update_message_id(update.fingerprint),
                         correlation_id=row.correlation_id) for update in updates]

    async def _refusal(self, order: ApprovedOrder, conn: AsyncConnection | None = None) -> str | None:
        refusal = block_reason(posture_for(await self.store.control_commands(conn), self.account))
        if refusal is not None and self.control_read_through is not None:
            # The order may have been read before a command produced ahead of it (say, the one that
            # turned the kill switch off): judge it on every command on the topic now, or, if they
            # are not applied in time, on what is known (still a refusal: fail closed).
            if await self.control_read_through():
                refusal = block_reason(posture_for(await self.store.control_commands(conn), self.account))
        if refusal is not None:
            return refusal
        if self.max_order_age_s > 0 and self.clock() - order.approved_at > timedelta(seconds=self.max_order_age_s):
            return "order_stale"
        return None

    async def _lean_healthy(self) -> bool:
        if self.lean is None:
            return False
        if self.lean.healthy is None:
            await self.lean.check_health()
        return bool(self.lean.healthy)

    async def _submit(self, row: ExecutionRow, route: RouteDecision, request: OrderRequest) -> None:
        assert route.adapter is not None
        venue_name = route.adapter
        try:
            outcome = await self.venues[venue_name].submit(request)
        except VenueFailure as failure:
            if self.lean is not None and venue_name is Adapter.LEAN:
                self.lean.mark_unhealthy()
            self.metrics.fallbacks.labels(reason=failure.reason).inc()
            if route.fallback is None:
                await self._reject(row, venue_name, failure.reason)
                return
            log.warning("venue failed; falling back", client_order_id=row.client_order_id, venue=venue_name.value,
                        fallback=route.fallback.value, reason=failure.reason)
            venue_name = route.fallback
            await self.store.set_route(row.client_order_id, venue=venue_name, fallback_reason=failure.reason)
            outcome = await self.venues[venue_name].submit(request)
        await self._apply_outcome(row, venue_name, outcome)

    async def _apply_outcome(self, row: ExecutionRow, venue: Adapter, outcome: SubmitOutcome,
                             conn: AsyncConnection | None = None) -> list[TradeUpdate]:
        """Record what the venue answered; in ``conn`` the updates are the caller's to publish."""
        self.metrics.orders.labels(venue=venue.value, outcome=outcome.kind.value).inc()
        if outcome.kind is SubmitKind.ACCEPTED:
            await self.store.set_submit_state(row.client_order_id, SubmitState.ACKNOWLEDGED, conn=conn)
            return await self.record_all(outcome.events, conn)
        if outcome.kind is SubmitKind.REJECTED:
            await self.store.set_submit_state(row.client_order_id, SubmitState.REJECTED, reject_reason=outcome.reason,
                                              conn=conn)
            if outcome.events:
                return await self.record_all(outcome.events, conn)
            return await self._record_router_event(row, venue, OrderStatus.REJECTED, TradeEvent.REJECTED,
                                                   outcome.reason, conn)
        log.warning("order outcome unknown; reconciling by client_order_id", client_order_id=row.client_order_id,
                    venue=venue.value, reason=outcome.reason)
        await self.store.set_submit_state(row.client_order_id, SubmitState.UNKNOWN, reject_reason=outcome.reason,
                                          conn=conn)
        updates = await self._record_router_event(row, venue, OrderStatus.UNKNOWN, TradeEvent.PENDING_NEW,
                                                  outcome.reason, conn)
        self.reconcile_wake.notify("unknown")
        return updates

    async def _reject(self, row: ExecutionRow, venue: Adapter, reason: str,
                      conn: AsyncConnection | None = None) -> list[TradeUpdate]:
        log.info("order refused by the router", client_order_id=row.client_order_id, reason=reason)
        self.metrics.orders.labels(venue=venue.value, outcome="refused").inc()
        await self.store.set_submit_state(row.client_order_id, SubmitState.REJECTED, reject_reason=reason, conn=conn)
        return await self._record_router_event(row, venue, OrderStatus.REJECTED, TradeEvent.REJECTED, reason, conn)

    async def _record_router_event(self, row: ExecutionRow, venue: Adapter, status: OrderStatus, event: TradeEvent,
                                   reason: str | None, conn: AsyncConnection | None = None) -> list[TradeUpdate]:
        return await self.record_all([self._router_event(row, venue, status, event, reason)], conn)

    def _router_event(self, row: ExecutionRow, venue: Adapter, status: OrderStatus, event: TradeEvent,
                      reason: str | None) -> VenueEvent:
        now = self.clock()
        order = replace(row.venue_order(), venue=venue, status=status, updated_at=now)
        return VenueEvent(order=order, event=event, timestamp=now, source=EventSource.ROUTER, reason=reason)

    async def on_control(self, inbound: Inbound[ControlCommand], conn: AsyncConnection) -> list[Outgoing]:
        command = inbound.payload
        if not applies_to(command, self.account):
            return []
        applied = await self.store.save_control(command)
        cancels = cancels_open_orders(posture_for(await self.store.control_commands(), self.account))
        log.info("control command", scope=command.scope, kill_switch=command.kill_switch,
                 trading_state=command.trading_state.value, applied=applied, cancels_open_orders=cancels)
        if applied and cancels:
            await self.cancel_open_orders()
        return []

    # -- the order feed ----------------------------------------------------------------------------
    async def record_all(self, events: Iterable[VenueEvent], conn: AsyncConnection | None = None, *,
                         caller_publishes: bool = True) -> list[TradeUpdate]:
        """Pass ``events`` through the order feed. Alone, each is its own transaction and its update
        leaves through the outbox. In ``conn`` the caller publishes the updates returned, unless
        ``caller_publishes`` is false: then the outbox does, once ``conn``'s transaction commits."""
        published = conn is not None and caller_publishes
        updates = []
        for event in events:
            recorded = await self.store.record(event, conn, published=published)
            if recorded.update is not None:
                updates.append(recorded.update)
                if conn is None:
                    self.outbox_wake.notify("update")
                elif not published:
                    after_commit(functools.partial(self.outbox_wake.notify, "update"))
                if event.event in FILL_EVENTS and event.order.venue is self.account_venue:
                    # In ``conn`` the snapshot still reflects the fill: it locks the paper account,
                    # which this transaction holds until it commits.
                    self.snapshot_wake.notify("fill")
        return updates

    async def on_stream_event(self, event: VenueEvent) -> None:
        await self.record_all([event])

    def _reconcile_event(self, order: VenueOrder) -> VenueEvent:
        return state_event(order, EventSource.RECONCILE,
                           timestamp=order.updated_at or order.submitted_at or self.clock())

    # -- cancels on the kill switch / HALTED ------------------------------------------------------
    async def cancel_open_orders(self) -> int:
        """Cancel every open order at every configured venue (and every one the router thinks is open)."""
        cancelled = 0
        for name, venue in self.venues.items():
            try:
                targets = {o.client_order_id: o for o in await venue.list_open()}
                for row in await self.store.open_executions(name):
                    targets.setdefault(row.client_order_id, row.venue_order())
                for order in targets.values():
                    events = await venue.cancel(order)
                    self.metrics.cancels.labels(venue=name.value).inc()
                    await self.record_all(events)
                    cancelled += 1
            except VenueUnavailable as exc:
                self.metrics.consumer_errors.labels(source=f"cancel_{name.value}").inc()
                log.warning("could not cancel open orders; will retry", venue=name.value, error=str(exc))
        return cancelled

    # -- reconciliation ----------------------------------------------------------------------------
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
            if order is None:
                if row.submit_state is SubmitState.UNKNOWN:
                    await self._unknown_not_found(row)
                continue
            if row.submit_state is SubmitState.UNKNOWN:
                await self.store.set_submit_state(row.client_order_id, SubmitState.ACKNOWLEDGED)
            if not _same_state(row, order):
                await self.record_all([self._reconcile_event(order)])

    async def _unknown_not_found(self, row: ExecutionRow) -> None:
        """Nautilus's in-flight rule: only after repeated targeted lookups is a silent submit a rejection."""
        lookups = await self.store.count_unknown_lookup(row.client_order_id)
        if lookups >= self.unknown_max_lookups:
            await self._reject(row, row.venue, "venue_never_acknowledged")

    async def reconcile_all(self, trigger: str, venues: Iterable[Adapter] | None = None) -> None:
        for name in list(venues or self.venues):
            try:
                await self.reconcile(name, trigger)
            except Exception:
                self.metrics.consumer_errors.labels(source=f"reconcile_{name.value}").inc()
                log.exception("reconciliation failed", venue=name.value)

    async def recover_stale_claims(self) -> int:
        """A claim older than ``claim_recovery_s`` lost its handler: it may or may not have reached the venue,
        which is exactly 'unknown' — the lookups decide (upstream recovers claims after 120 s)."""
        stale = await self.store.stale_claims(self.clock() - timedelta(seconds=self.claim_recovery_s))
        for row in stale:
            log.warning("recovering an abandoned claim", client_order_id=row.client_order_id, venue=row.venue.value)
            await self.store.set_submit_state(row.client_order_id, SubmitState.UNKNOWN,
                                              reject_reason="claim_abandoned")
        return len(stale)

    def on_stream_connected(self) -> None:
        """Every (re)connection of the Alpaca stream: what happened while it was away comes from REST."""
        self.reconcile_wake.notify("alpaca_reconnect")

    async def run_reconciler(self) -> None:
        reasons = {"startup"}
        while True:
            if "alpaca_reconnect" in reasons and Adapter.ALPACA in self.venues:
                await self.reconcile_all("reconnect", [Adapter.ALPACA])
                reasons.discard("alpaca_reconnect")
            if reasons:
                await self.recover_stale_claims()
                await self.reconcile_all(sorted(reasons)[0])
            if cancels_open_orders(posture_for(await self.store.control_commands(), self.account)):
                await self.cancel_open_orders()
            reasons = await self.reconcile_wake.wait(self.reconcile_interval_s)

    # -- outbox, snapshots, health -------------------------------------------------------------------
    async def _publish_updates(self, pending: list[PendingPublication]) -> None:
        for item in pending:
            update = topics.TRADE_UPDATES.decode(item.payload)
            headers = MessageHeaders.new(topics.TRADE_UPDATES.name,
                                         message_id=trade_update_message_id(item.fingerprint),
                                         correlation_id=item.correlation_id)
            # Published from the outbox loop, so continue the order's trace explicitly.
            with trace.use_span(_span_of(item.traceparent)):
                await self.publish(topics.TRADE_UPDATES, update, headers=headers)

    async def publish_pending(self) -> int:
        """One outbox round: publish what is pending and mark it published."""
        pending = await self.store.pending_publications()
        await self._publish_updates(pending)
        await self.store.mark_published([item.id for item in pending])
        return len(pending)

    async def run_outbox(self) -> None:
        """Publish pending trade updates as soon as a commit enqueues them (``outbox_wake``), polling as a backstop.

        A round's publications are marked in the same transaction that reads the next round, so a burst
        (``new`` then ``fill``) costs one round trip per round; a crash in between republishes them
        with the same derived message ids, which consumers deduplicate.
        """
        published: list[int] = []
        while True:
            try:
                pending = await self.store.next_publications(published)
                published = []
                await self._publish_updates(pending)
                published = [item.id for item in pending]
            except Exception:
                self.metrics.consumer_errors.labels(source="outbox").inc()
                raise
            if not pending:
                await self.outbox_wake.wait(self.outbox_poll_s)

    async def publish_snapshot(self, trigger: str) -> AccountSnapshot | None:
        if self.account_source is None or self.account_venue is None:
            return None
        try:
            snapshot = await self.account_source.account_snapshot(self.account, self.clock())
        except VenueUnavailable as exc:
            log.warning("account snapshot unavailable", venue=self.account_venue.value, error=str(exc))
            return None
        await self.publish(topics.ACCOUNT_SNAPSHOTS, snapshot)
        self.metrics.snapshots.labels(venue=self.account_venue.value, trigger=trigger).inc()
        return snapshot

    async def run_snapshots(self) -> None:
        trigger = "startup"
        while True:
            await self.publish_snapshot(trigger)
            reasons = await self.snapshot_wake.wait(self.snapshot_interval_s)
            trigger = "fill" if "fill" in reasons else "timer"
            if trigger == "fill" and self.snapshot_fill_settle_s > 0:
                # Partial fills and the orders of one decision come in bursts: one snapshot after the
                # burst. And a fill placed in the consumer's transaction is still being published;
                # the snapshot should not compete with it for this process.
                await asyncio.sleep(self.snapshot_fill_settle_s)
                self.snapshot_wake.drain()  # the fills of the burst: this snapshot covers them

    async def run_lean_health(self) -> None:
        if self.lean is None:
            return
        while True:
            healthy = await self.lean.check_health()
            self.metrics.venue_healthy.labels(venue="lean").set(1 if healthy else 0)
            await asyncio.sleep(self.lean_health_interval_s)

    async def hold_venues(self) -> None:
        """Keeps the venues' HTTP clients for the service's lifetime and closes them when it stops."""
        try:
            await asyncio.Event().wait()
        finally:
            for venue in self.venues.values():
                with contextlib.suppress(Exception):
                    await venue.close()
