"""Assembly: the projection's consumers, the live feed, the watch, the dead-letter reader, the pages."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.routing import Mount
from torghut_contracts import topics
from torghut_contracts.models import ControlCommand
from torghut_runtime import ServiceRuntime
from torghut_runtime.kafka import FetchTuning

from .adapters import control_topic, store
from .adapters.dead_letters import DeadLetterReader
from .adapters.live import LiveFeed
from .adapters.watch import ServiceWatch
from .domain.throttle import LoginThrottle
from .handlers import (
    Projection,
    SignalProjection,
    apply_control,
    apply_decision,
    apply_lane_run,
    apply_order,
    apply_run,
    apply_snapshot,
    apply_trade_update,
    apply_verdict,
)
from .metrics import ConsoleMetrics
from .panels import Panel, PanelRenderer, environment
from .settings import ConsoleSettings
from .web import ConsoleWeb

MIGRATIONS = Path(__file__).parent / "migrations"
SIGNAL_FETCH_MIN_BYTES = 1024 * 1024

PROJECTIONS: tuple[tuple[Any, set[Panel], Any, bool], ...] = (
    (topics.TRIGGERS, {Panel.PIPELINE}, None, True),
    (topics.DECISIONS, {Panel.PIPELINE, Panel.DECISIONS}, apply_decision, True),
    (topics.RISK_VERDICTS, {Panel.PIPELINE, Panel.DECISIONS}, apply_verdict, True),
    (topics.ORDERS_APPROVED, {Panel.PIPELINE, Panel.ACCOUNT}, apply_order, False),
    (topics.TRADE_UPDATES, {Panel.PIPELINE, Panel.ACCOUNT}, apply_trade_update, False),
    (topics.ACCOUNT_SNAPSHOTS, {Panel.ACCOUNT}, apply_snapshot, True),
    (topics.CONTROL, {Panel.CONTROL}, apply_control, False),
    (topics.WHITEPAPER_RUNS, {Panel.RESEARCH}, apply_run, True),
    (topics.LANE_RUNS, {Panel.RESEARCH}, apply_lane_run, True),
)
"""Each topic the console reads besides signals, the panels a change to it touches, what it writes, and
whether the change may wait for the next lazy push (CONSOLE_SIGNAL_PUSH_INTERVAL_MS): orders, fills and
control commands reach the pages at once; the rest, a second at most later."""


class ConsoleService:
    """The runtime plus what tests reach for: the feed, the watch, the web app's parts."""

    def __init__(self, settings: ConsoleSettings, runtime: ServiceRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.metrics = ConsoleMetrics(runtime.registry)
        self.watch = ServiceWatch(settings.watched_services(), settings.kafka_bootstrap_servers,
                                  settings.topic_prefix, settings.console_poll_interval_s,
                                  on_change=lambda: self.feed.changed([Panel.PIPELINE, Panel.STATUS]))
        env = environment()
        self.renderer = PanelRenderer(runtime.engine, self.watch, env)
        self.feed = LiveFeed(settings.database_url, self.renderer, self.metrics,
                             settings.console_push_interval_ms / 1000,
                             settings.console_signal_push_interval_ms / 1000)
        batch = settings.kafka_max_batch
        # Signals, the bulk of the traffic and shown once a second: a consumer of their own, whose fetches
        # the broker may hold to gather a batch (fewer transactions); the rest is read as it arrives.
        runtime.consume(topics.TA_SIGNALS, SignalProjection(), batch=batch, group_id=f"{settings.service_name}.signals",
                        fetch=FetchTuning(settings.console_signal_fetch_wait_ms, SIGNAL_FETCH_MIN_BYTES))
        for spec, panels, apply, lazy in PROJECTIONS:
            runtime.consume(spec, Projection(panels, apply, lazy=lazy), batch=batch)
        runtime.produces(topics.CONTROL)
        self.dead_letters = DeadLetterReader(
            runtime.engine, settings.kafka_bootstrap_servers,
            [settings.topic_prefix + spec.dlq.name for spec in topics.ALL_TOPICS])
        runtime.background("live-listen", self.feed.listen)
        runtime.background("live-push", self.feed.push)
        runtime.background("watch", self.watch.run)
        runtime.background("dead-letters", self.dead_letters.run)
        runtime.background("prune-hops", functools.partial(prune_forever, runtime, settings))
        runtime.on_exit_signal(self.feed.close)
        runtime.on_stop(self.watch.close)
        latest = functools.partial(control_topic.latest_command, settings.kafka_bootstrap_servers,
                                   settings.topic_prefix + topics.CONTROL.name)
        self.web = ConsoleWeb(settings, env, self.renderer, self.feed, self.publish, latest, self.metrics,
                              LoginThrottle(settings.console_login_max_failures, settings.console_login_window_s))
        runtime.add_routes([Mount("/", app=self.web.app())])

    async def publish(self, command: ControlCommand) -> None:
        await self.runtime.publish(topics.CONTROL, command)


async def prune_forever(runtime: ServiceRuntime, settings: ConsoleSettings) -> None:
    """Forget hops older than CONSOLE_HOP_RETENTION_H, hourly: the chain view is for the recent past."""
    while True:
        async with runtime.engine.begin() as conn:
            await store.prune_hops(conn, datetime.now(UTC) - timedelta(hours=settings.console_hop_retention_h))
        await asyncio.sleep(3600)


def build_service(settings: ConsoleSettings, *, configure_logs: bool = True) -> ConsoleService:
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=configure_logs)
    return ConsoleService(settings, runtime)


def build_runtime(settings: ConsoleSettings) -> ServiceRuntime:
    return build_service(settings).runtime
