"""Assembly: settings -> venues, store, router -> a ``ServiceRuntime`` with consumers and loops."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import TracerProvider
from torghut_contracts import topics
from torghut_contracts.enums import Adapter
from torghut_runtime import ServiceRuntime
from torghut_runtime.flags import FeatureFlags, FeatureFlagSettings, Flag, wire_flags

from .adapters.lean import LeanAdapter
from .adapters.metrics import RouterMetrics
from .adapters.order_feed import OrderFeedSwitch
from .adapters.paper_venue import PaperVenue
from .adapters.ratelimiter import RateLimiter
from .adapters.store import ExecutionStore
from .adapters.venue import AccountSource, Venue
from .domain.routing import RoutingPolicy
from .router import ExecutionRouter
from .settings import ExecutionRouterSettings

if TYPE_CHECKING:  # alpaca-py pulls pandas/numpy (~60 MB RSS): imported only when Alpaca is configured
    from .adapters.alpaca import AlpacaAdapter
    from .adapters.alpaca_stream import AlpacaTradeUpdates

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class ExecutionRouterService:
    runtime: ServiceRuntime
    router: ExecutionRouter
    store: ExecutionStore
    metrics: RouterMetrics
    stream: AlpacaTradeUpdates | None
    """Flags disabled: the trade-update stream run for the service's life (None: ALPACA_STREAM_ENABLED is off)."""
    flags: FeatureFlags | None = None
    order_feed: OrderFeedSwitch | None = None
    """Flags enabled: the stream, started and stopped by ``torghut_trading_order_feed_enabled``."""


_POLICY_FLAGS = (Flag.LEAN_ENABLED, Flag.LEAN_FALLBACK_ENABLED, Flag.HONOUR_ADAPTER_HINT, Flag.LEAN_REQUIRE_HEALTHY)


class FlaggedPolicy:
    """The routing policy per order from the four routing flags (one policy per combination, cached).

    * LEAN routing on: LEAN is the primary venue (when a runner is configured); off: LEAN takes nothing
      and its orders follow the fallback as their ordinary route (none configured: refused, lean_disabled).
    * LEAN fallback on: EXECUTION_FALLBACK_ADAPTER (a flag cannot invent a venue when it is none); off: none.
    * adapter hints and LEAN-must-be-healthy: the policy's fields as they are.
    """

    def __init__(self, configured: RoutingPolicy, flags: FeatureFlags) -> None:
        self.configured = configured
        self.flags = flags
        self._cache: dict[tuple[bool, ...], RoutingPolicy] = {}

    def __call__(self) -> RoutingPolicy:
        if not self.flags.enabled:
            return self.configured
        key = tuple(self.flags.value(f) for f in _POLICY_FLAGS)
        policy = self._cache.get(key)
        if policy is None:
            lean, fallback, hints, healthy = key
            base = self.configured
            primary = Adapter.LEAN if lean and Adapter.LEAN in base.configured else base.primary
            policy = self._cache[key] = dataclasses.replace(
                base, primary=primary, lean_enabled=lean, fallback=base.fallback if fallback else None,
                honour_hints=hints, lean_require_healthy=healthy)
        return policy


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
    paper = PaperVenue(runtime.engine, account, settings.fill_model(), settings.paper_starting_cash)
    venues: dict[Adapter, Venue] = {Adapter.PAPER: paper}
    sources: dict[Adapter, AccountSource] = {Adapter.PAPER: paper}

    alpaca: AlpacaAdapter | None = None
    if Adapter.ALPACA in settings.configured_adapters:
        from .adapters.alpaca import AlpacaAdapter

        assert settings.alpaca_api_key_id is not None and settings.alpaca_api_secret_key is not None
        limiter = RateLimiter(settings.alpaca_rate_limit_per_min, min_wait_s=settings.alpaca_rate_limit_min_wait_s,
                              max_wait_s=settings.alpaca_rate_limit_max_wait_s)
        alpaca = AlpacaAdapter(api_key=settings.alpaca_api_key_id.get_secret_value(),
                               secret_key=settings.alpaca_api_secret_key.get_secret_value(),
                               paper=settings.alpaca_paper, base_url=settings.alpaca_base_url,
                               timeout_s=settings.alpaca_http_timeout_s, limiter=limiter,
                               rate_limited_retries=settings.alpaca_rate_limited_retries, metrics=metrics)
        venues[Adapter.ALPACA] = alpaca
        sources[Adapter.ALPACA] = alpaca
    lean: LeanAdapter | None = None
    if settings.lean_runner_url:
        lean = LeanAdapter(settings.lean_runner_url, timeout_s=settings.lean_runner_timeout_s,
                           health_timeout_s=settings.lean_healthcheck_timeout_s)
        venues[Adapter.LEAN] = lean

    account_venue = settings.account_venue
    policy = settings.routing_policy()
    router = ExecutionRouter(
        account=account, policy=policy,
        policy_source=FlaggedPolicy(policy, flags) if flags.enabled else None,
        store=store, venues=venues, paper=paper, lean=lean,
        account_source=sources.get(account_venue) if account_venue is not None else None,
        account_venue=account_venue, metrics=metrics, publish=runtime.publish,
        max_order_age_s=settings.execution_max_order_age_s, reconcile_interval_s=settings.reconcile_interval_s,
        unknown_max_lookups=settings.reconcile_unknown_max_lookups, snapshot_interval_s=settings.snapshot_interval_s,
        outbox_poll_s=settings.outbox_poll_ms / 1000, lean_health_interval_s=settings.lean_healthcheck_interval_s,
        claim_recovery_s=settings.reconcile_claim_recovery_s,
        snapshot_fill_settle_s=settings.snapshot_fill_settle_ms / 1000,
        control_read_through=(lambda: runtime.kafka.read_through(
            topics.CONTROL, timeout_s=settings.execution_control_read_through_s))
        if settings.execution_control_read_through_s > 0 else None)

    runtime.produces(topics.TRADE_UPDATES, topics.ACCOUNT_SNAPSHOTS)
    runtime.consume(topics.ORDERS_APPROVED, router.on_approved)
    runtime.consume(topics.CONTROL, router.on_control)
    runtime.consume(topics.TA_SIGNALS, router.on_signal, batch=settings.kafka_max_batch)
    runtime.background("outbox", router.run_outbox)
    runtime.background("reconciler", router.run_reconciler)
    runtime.background("account-snapshots", router.run_snapshots)
    runtime.background("venues", router.hold_venues)
    if lean is not None:
        runtime.background("lean-health", router.run_lean_health)

    stream: AlpacaTradeUpdates | None = None
    order_feed: OrderFeedSwitch | None = None
    if alpaca is not None and flags.enabled:
        # Built whatever ALPACA_STREAM_ENABLED says: the flag may turn the feed on.
        order_feed = OrderFeedSwitch(flags, lambda: trade_updates(settings, router, metrics))
        runtime.background("alpaca-trade-updates", order_feed.run)
    elif alpaca is not None and settings.alpaca_stream_enabled:
        stream = trade_updates(settings, router, metrics)
        runtime.background("alpaca-trade-updates", stream.run)
    return ExecutionRouterService(runtime=runtime, router=router, store=store, metrics=metrics, stream=stream,
                                  flags=flags, order_feed=order_feed)


def trade_updates(settings: ExecutionRouterSettings, router: ExecutionRouter,
                  metrics: RouterMetrics) -> AlpacaTradeUpdates:
    """A fresh Alpaca trade-update stream into ``router`` (each connection asks it to reconcile)."""
    from .adapters.alpaca_stream import AlpacaTradeUpdates

    assert settings.alpaca_api_key_id is not None and settings.alpaca_api_secret_key is not None
    return AlpacaTradeUpdates(
        api_key=settings.alpaca_api_key_id.get_secret_value(),
        secret_key=settings.alpaca_api_secret_key.get_secret_value(), paper=settings.alpaca_paper,
        url=settings.alpaca_stream_url, reconnect_min_s=settings.alpaca_stream_reconnect_min_s,
        on_event=router.on_stream_event, on_connected=router.on_stream_connected,
        on_lost_event=router.on_stream_connected, metrics=metrics)


def build_runtime(settings: ExecutionRouterSettings) -> ServiceRuntime:
    return build_service(settings).runtime
