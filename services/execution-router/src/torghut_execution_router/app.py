"""Assembly: settings -> venues, store, the router's handlers and loops -> a ``ServiceRuntime``.

The runtime calls three handlers (approved orders, control, TA-signal prices) and runs the loops:
the outbox relay, the reconciler, the account snapshots, LEAN's health check and, with Alpaca, its
trade-update stream. They share the store and the ``ExecutionRecorder``, the one way venue events
and submission transitions are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import TracerProvider
from torghut_contracts import topics
from torghut_contracts.enums import Adapter
from torghut_runtime import ServiceRuntime
from torghut_runtime.flags import FeatureFlags, FeatureFlagSettings, wire_flags
from torghut_runtime.outbox import Outbox
from torghut_runtime.settings import judging_clock

from .adapters.metrics import RouterMetrics
from .adapters.order_feed import OrderFeedSwitch
from .adapters.store import ExecutionStore
from .adapters.trade_update_outbox import TRADE_UPDATES_OUTBOX
from .adapters.venues.base import AccountSource, Venue
from .adapters.venues.lean.client import LeanAdapter
from .adapters.venues.paper.venue import PaperVenue
from .control import ControlPosture, OpenOrderCanceller, ReadThrough
from .handlers import ApprovedOrderIntake, ControlHandler, PriceIntake
from .outbox import trade_update_message
from .placement import OrderGate, PaperPlacement, VenuePlacement
from .reconciler import ReconcileLoop, Reconciler
from .recorder import ExecutionRecorder
from .routes import FlaggedPolicy, LeanHealth, RouteChooser
from .settings import ExecutionRouterSettings
from .snapshots import SnapshotPublisher
from .wake import Wakes

if TYPE_CHECKING:  # alpaca-py pulls pandas/numpy (~60 MB RSS): imported only when Alpaca is configured
    from .adapters.venues.alpaca.client import AlpacaAdapter
    from .adapters.venues.alpaca.stream import AlpacaTradeUpdates

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class ExecutionRouterService:
    runtime: ServiceRuntime
    store: ExecutionStore
    metrics: RouterMetrics
    venues: dict[Adapter, Venue]
    paper: PaperVenue
    intake: ApprovedOrderIntake
    control: ControlHandler
    prices: PriceIntake
    recorder: ExecutionRecorder
    reconciler: Reconciler
    reconcile_loop: ReconcileLoop
    outbox: Outbox
    """Trade updates recorded outside a handler's outputs, published after their commit."""
    snapshots: SnapshotPublisher
    lean_health: LeanHealth
    flags: FeatureFlags | None = None
    stream: AlpacaTradeUpdates | None = None
    """Flags disabled: the trade-update stream run for the service's life (None: ALPACA_STREAM_ENABLED is off)."""
    order_feed: OrderFeedSwitch | None = None
    """Flags enabled: the stream, started and stopped by ``torghut_trading_order_feed_enabled``."""


def build_service(settings: ExecutionRouterSettings, *, tracer_provider: TracerProvider | None = None,
                  configure_logs: bool = True,
                  flag_settings: FeatureFlagSettings | None = None) -> ExecutionRouterService:
    """``flag_settings`` defaults to the environment (``TRADING_FEATURE_FLAGS_*``). The routing flags are
    read per order; the order-feed flag starts and stops the Alpaca stream when it flips."""
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, tracer_provider=tracer_provider,
                             configure_logs=configure_logs)
    flags = wire_flags(runtime, "execution-router", settings, flag_settings)
    metrics = RouterMetrics(runtime.registry)
    account = settings.torghut_account
    store = ExecutionStore(runtime.engine, account, metrics)
    paper = PaperVenue(runtime.engine, account, settings.fill_model(), settings.paper_starting_cash,
                       event_clock=settings.clock == "event")
    alpaca, lean = _alpaca(settings, metrics), _lean(settings)
    venues: dict[Adapter, Venue] = {Adapter.PAPER: paper}
    venues.update({v.name: v for v in (alpaca, lean) if v is not None})

    wakes = Wakes()
    clock = judging_clock(settings.clock)
    recorder = ExecutionRecorder(store, metrics, wakes, account_venue=settings.account_venue, clock=clock)
    posture = ControlPosture(store, account, _control_read_through(runtime, settings))
    canceller = OpenOrderCanceller(store, venues, recorder, metrics)
    lean_health = LeanHealth(lean, metrics, settings.lean_healthcheck_interval_s)
    policy = settings.routing_policy()
    routes = RouteChooser(FlaggedPolicy(policy, flags) if flags.enabled else policy, lean_health)
    gate = OrderGate(posture, settings.execution_max_order_age_s, clock)
    reconciler = Reconciler(store, venues, recorder, metrics,
                            unknown_max_lookups=settings.reconcile_unknown_max_lookups,
                            claim_recovery_s=settings.reconcile_claim_recovery_s)
    service = ExecutionRouterService(
        runtime=runtime, store=store, metrics=metrics, venues=venues, paper=paper, recorder=recorder,
        intake=ApprovedOrderIntake(store, routes, gate, VenuePlacement(venues, store, recorder, lean_health, metrics),
                                   PaperPlacement(paper, gate, store, recorder, metrics), metrics),
        control=ControlHandler(store, posture, canceller),
        prices=PriceIntake(paper, functools.partial(recorder.record, caller_publishes=False)),
        reconciler=reconciler,
        reconcile_loop=ReconcileLoop(reconciler, posture, canceller, wakes.reconciler, settings.reconcile_interval_s),
        outbox=runtime.outbox(TRADE_UPDATES_OUTBOX, trade_update_message, poll_s=settings.outbox_poll_ms / 1000,
                              wakes=wakes.outbox),
        snapshots=SnapshotPublisher(account, _account_source(settings, paper, alpaca), runtime.publish, metrics,
                                    wakes.snapshots, interval_s=settings.snapshot_interval_s,
                                    fill_settle_s=settings.snapshot_fill_settle_ms / 1000),
        lean_health=lean_health, flags=flags)
    _serve(service, settings)
    if alpaca is not None:
        _follow_trade_updates(service, settings)
    return service


def _serve(service: ExecutionRouterService, settings: ExecutionRouterSettings) -> None:
    """The topics the runtime reads and writes, and the loops it runs."""
    runtime = service.runtime
    runtime.produces(topics.TRADE_UPDATES, topics.ACCOUNT_SNAPSHOTS)
    # With the paper venue alone, approved orders commit in groups: a burst is booked against the paper
    # account held in one transaction. Not with another venue: its paper fallback places in a
    # transaction of its own, which would wait for the paper account the group holds, and a group
    # would then hold Alpaca or LEAN round trips in its transaction.
    runtime.consume(topics.ORDERS_APPROVED, service.intake, group_commit=set(service.venues) == {Adapter.PAPER})
    runtime.consume(topics.CONTROL, service.control.on_control)
    runtime.consume(topics.TA_SIGNALS, service.prices, batch=settings.kafka_max_batch)
    runtime.background("reconciler", service.reconcile_loop.run)
    runtime.background("account-snapshots", service.snapshots.run)
    runtime.background("venues", functools.partial(hold_venues, service.venues))
    if Adapter.LEAN in service.venues:
        runtime.background("lean-health", service.lean_health.run)


def _follow_trade_updates(service: ExecutionRouterService, settings: ExecutionRouterSettings) -> None:
    """Alpaca's trade-update stream: switched by the order-feed flag, or run as ALPACA_STREAM_ENABLED says."""
    def connect() -> AlpacaTradeUpdates:
        return trade_updates(settings, service.recorder, service.reconcile_loop, service.metrics)

    if service.flags is not None and service.flags.enabled:
        # Built whatever ALPACA_STREAM_ENABLED says: the flag may turn the feed on.
        service.order_feed = OrderFeedSwitch(service.flags, connect)
        service.runtime.background("alpaca-trade-updates", service.order_feed.run)
    elif settings.alpaca_stream_enabled:
        service.stream = connect()
        service.runtime.background("alpaca-trade-updates", service.stream.run)


def _alpaca(settings: ExecutionRouterSettings, metrics: RouterMetrics) -> AlpacaAdapter | None:
    if Adapter.ALPACA not in settings.configured_adapters:
        return None
    from .adapters.venues.alpaca.client import AlpacaAdapter
    from .adapters.venues.alpaca.ratelimiter import RateLimiter

    assert settings.alpaca_api_key_id is not None and settings.alpaca_api_secret_key is not None
    limiter = RateLimiter(settings.alpaca_rate_limit_per_min, min_wait_s=settings.alpaca_rate_limit_min_wait_s,
                          max_wait_s=settings.alpaca_rate_limit_max_wait_s)
    return AlpacaAdapter(api_key=settings.alpaca_api_key_id.get_secret_value(),
                         secret_key=settings.alpaca_api_secret_key.get_secret_value(),
                         paper=settings.alpaca_paper, base_url=settings.alpaca_base_url,
                         timeout_s=settings.alpaca_http_timeout_s, limiter=limiter,
                         rate_limited_retries=settings.alpaca_rate_limited_retries, metrics=metrics)


def _account_source(settings: ExecutionRouterSettings, paper: PaperVenue,
                    alpaca: AlpacaAdapter | None) -> AccountSource | None:
    """The account venue's: the primary, or the fallback when the primary is LEAN (None: no venue)."""
    venue = settings.account_venue
    sources: dict[Adapter, AccountSource | None] = {Adapter.PAPER: paper, Adapter.ALPACA: alpaca}
    return sources.get(venue) if venue is not None else None


def _lean(settings: ExecutionRouterSettings) -> LeanAdapter | None:
    if not settings.lean_runner_url:
        return None
    return LeanAdapter(settings.lean_runner_url, timeout_s=settings.lean_runner_timeout_s,
                       health_timeout_s=settings.lean_healthcheck_timeout_s)


def _control_read_through(runtime: ServiceRuntime, settings: ExecutionRouterSettings) -> ReadThrough | None:
    """Waits until the control consumer has committed every command on the topic now (asked of the broker)."""
    if settings.execution_control_read_through_s <= 0:
        return None
    return lambda: runtime.kafka.read_through(topics.CONTROL, timeout_s=settings.execution_control_read_through_s)


async def hold_venues(venues: Mapping[Adapter, Venue]) -> None:
    """Keeps the venues' HTTP clients for the service's lifetime and closes them when it stops."""
    try:
        await asyncio.Event().wait()
    finally:
        for venue in venues.values():
            with contextlib.suppress(Exception):
                await venue.close()


def trade_updates(settings: ExecutionRouterSettings, recorder: ExecutionRecorder, reconcile: ReconcileLoop,
                  metrics: RouterMetrics) -> AlpacaTradeUpdates:
    """A fresh Alpaca trade-update stream into the order feed (each connection asks for a reconciliation)."""
    from .adapters.venues.alpaca.stream import AlpacaTradeUpdates

    assert settings.alpaca_api_key_id is not None and settings.alpaca_api_secret_key is not None
    return AlpacaTradeUpdates(
        api_key=settings.alpaca_api_key_id.get_secret_value(),
        secret_key=settings.alpaca_api_secret_key.get_secret_value(), paper=settings.alpaca_paper,
        url=settings.alpaca_stream_url, reconnect_min_s=settings.alpaca_stream_reconnect_min_s,
        on_event=recorder.on_stream_event, on_connected=reconcile.on_stream_connected,
        on_lost_event=reconcile.on_stream_connected, metrics=metrics)


def build_runtime(settings: ExecutionRouterSettings) -> ServiceRuntime:
    return build_service(settings).runtime
