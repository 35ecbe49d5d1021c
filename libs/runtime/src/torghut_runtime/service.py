"""One object that assembles a service: settings, logs, tracing, metrics, broker, database, HTTP.

A service module builds a :class:`ServiceRuntime`, registers its consumers, routes and background
loops, and calls :meth:`ServiceRuntime.run`. Tests use :meth:`ServiceRuntime.running` to run the
same assembly in-process against the real broker and database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import sqlalchemy as sa
import structlog
import uvicorn
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from torghut_contracts.topics import TopicSpec

from .asyncapi import asyncapi_routes
from .db import create_engine, migrate, migrations_at_head
from .http import probe_routes
from .http_input import DEFAULT_MAX_BODY_BYTES, RequestLimits
from .kafka import FetchTuning, Handler, KafkaWiring, build_broker
from .kafka.deferred import DeferredOutputs
from .lane_topics import Gate
from .logs import configure_logging
from .metrics import ConsumerMetrics
from .outbox import Outbox, OutboxTable, Render
from .settings import ServiceSettings
from .tracing import build_tracer_provider, install_global_tracer_provider
from .wake import Wake

log = structlog.get_logger("torghut.service")
BackgroundLoop = Callable[[], Awaitable[None]]


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, *, migrations: Path | None,
                 tracer_provider: TracerProvider | None = None, configure_logs: bool = True,
                 uses_kafka: bool = True) -> None:
        """``uses_kafka=False`` for a service with no topics (an HTTP engine): the broker is then
        neither started nor part of readiness, so a Kafka outage cannot take it down."""
        self.settings = settings
        if configure_logs:
            configure_logging(settings.service_name, settings.log_level)
        self.tracer_provider = tracer_provider or build_tracer_provider(
            settings.service_name, settings.otel_exporter_otlp_endpoint)
        install_global_tracer_provider(self.tracer_provider)
        self.registry = CollectorRegistry()
        self.metrics = ConsumerMetrics(self.registry)
        self.broker = build_broker(settings, self.registry, self.tracer_provider)
        self.engine = create_engine(settings.database_url, settings.schema_name,
                                    pool_size=settings.database_pool_size,
                                    max_overflow=settings.database_max_overflow,
                                    pool_timeout_s=settings.database_pool_timeout_s)
        self.kafka = KafkaWiring(settings, self.broker, self.engine, self.metrics, self.tracer_provider)
        self.migrations = migrations
        self.routes: list[BaseRoute] = []
        self.max_request_bytes = DEFAULT_MAX_BODY_BYTES
        """No request body is read past this (413): raise it for a route that takes more."""
        self.uses_kafka = uses_kafka
        self._loops: list[tuple[str, BackgroundLoop]] = []
        self._stop_hooks: list[Callable[[], Awaitable[None]]] = []
        self._exit_signal_hooks: list[Callable[[], None]] = []
        self._close_hooks: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._outboxes: list[Outbox] = []
        self._started = False

    # -- assembly -----------------------------------------------------------------------------
    def consume(self, spec: TopicSpec[Any], handler: Handler[Any], *, group_id: str | None = None,
                max_attempts: int | None = None, workers: int = 1, batch: int | None = None,
                claim_last: bool = False, group_commit: bool = False, gate: Gate | None = None,
                fetch: FetchTuning | None = None) -> None:
        """See :meth:`KafkaWiring.consume`."""
        self.kafka.consume(spec, handler, group_id=group_id, max_attempts=max_attempts, workers=workers,
                           batch=batch, claim_last=claim_last, group_commit=group_commit, gate=gate, fetch=fetch)

    def deferred_outputs(self, spec: TopicSpec[Any]) -> DeferredOutputs:
        """See :meth:`KafkaWiring.deferred_outputs` (claim now, call later, publish as the message's output)."""
        return self.kafka.deferred_outputs(spec)

    def produces(self, *specs: TopicSpec[Any]) -> None:
        """Declare the topics this service publishes to; a publish to any other fails (see :mod:`.kafka.publishing`)."""
        self.kafka.produces(*specs)

    def outbox(self, table: OutboxTable, render: Render, *, poll_s: float | None, batch: int = 500,
               wakes: Wake | None = None) -> Outbox:
        """A transactional outbox over ``table`` (see :mod:`.outbox`), flushed once more on stop, after
        the records in hand are committed and before the broker closes.

        With ``poll_s`` its relay runs in the background, woken by :meth:`Outbox.wake` (or by
        ``wakes``, when the service notifies a wake of its own) and polling as a backstop. Without, the
        service flushes it itself (a poll loop that publishes what each round committed).
        """
        outbox = Outbox(self.engine, table, render, self.kafka.publishers, self.metrics, batch=batch,
                        wakes=wakes or Wake())
        if poll_s is not None:
            self.background(f"outbox:{table.name}", functools.partial(outbox.relay, poll_s))
        self._outboxes.append(outbox)
        return outbox

    def add_routes(self, routes: list[BaseRoute]) -> None:
        self.routes.extend(routes)

    def background(self, name: str, loop: BackgroundLoop) -> None:
        """A long-running coroutine (a poller, a timer); a crash is logged and the loop restarted."""
        self._loops.append((name, loop))

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` on graceful stop, after background loops are cancelled, before the broker closes."""
        self._stop_hooks.append(hook)

    def on_closed(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` on stop once the broker has stopped, so no handler is in flight: the place to
        close the HTTP clients handlers call (closed earlier, a graceful stop would fail the message
        being handled)."""
        self._close_hooks.append(hook)

    async def publish(self, spec: TopicSpec[Any], message: BaseModel, **kwargs: Any) -> Any:
        return await self.kafka.publish(spec, message, **kwargs)

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.migrations is not None:
            await migrate(self.engine, self.settings.schema_name, self.migrations)
        loops = list(self._loops)
        if self.uses_kafka:
            self.kafka.register_consumers()
            await self.broker.start()
            self.kafka.start_fetching()
            loops.append(("processed-messages-pruner", self._prune_forever))
        for name, loop in loops:
            self._tasks.append(asyncio.create_task(self._supervise(name, loop), name=name))
        self._started = True
        log.info("service started", topics_prefix=self.settings.topic_prefix or None)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self._run_hooks(self._stop_hooks)
        if self._started and self.uses_kafka:
            await self.kafka.stop_fetching()
            await self.kafka.drain(self.settings.graceful_timeout_s)  # the records in hand, committed
            for outbox in self._outboxes:
                await outbox.flush_quietly()  # what those records and the stop hooks committed
            await self.broker.stop()  # waits for an in-flight batch (graceful_timeout), then commits
        await self._run_hooks(self._close_hooks)
        await self.kafka.progress.close()
        await self.engine.dispose()
        self._started = False
        log.info("service stopped")

    @staticmethod
    async def _run_hooks(hooks: list[Callable[[], Awaitable[None]]]) -> None:
        for hook in hooks:
            try:
                await hook()
            except Exception:
                log.exception("stop hook failed")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ServiceRuntime]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def _prune_forever(self) -> None:
        retention = timedelta(days=self.settings.processed_retention_days)
        while True:
            pruned = await self.kafka.store.prune(datetime.now(UTC) - retention)
            if pruned:
                log.info("pruned tracking records", rows=pruned)
            await asyncio.sleep(3600)

    async def _supervise(self, name: str, loop: BackgroundLoop) -> None:
        delay = 0.5
        while True:
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background loop crashed; restarting", loop=name, delay_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)

    # -- probes -------------------------------------------------------------------------------
    async def liveness(self) -> dict[str, bool]:
        """Alive while the broker client answers and every consumer lane runs: a lane stopped by a
        bug handles nothing until a restart, which is what a failing liveness probe gets."""
        if not self.uses_kafka:
            return {"process": True}
        return {"broker": await self._broker_ok(), "lanes": not self.kafka.crashed_lanes()}

    async def readiness(self) -> dict[str, bool]:
        """Ready when the broker and the database answer, migrations are at head and no consumer lane
        is stalled. A stalled lane (its records keep failing: an outage, a dead-letter write the broker
        refuses) is not a liveness failure: a restart would not cure it, so it shows here and in
        ``torghut_lanes_stalled``."""
        checks = {"database": False, "migrations": self.migrations is None}
        if self.uses_kafka:
            checks["broker"] = await self._broker_ok()
            checks["lanes_moving"] = not self.kafka.stalled_lanes()
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            checks["database"] = True
            if self.migrations is not None:
                checks["migrations"] = await migrations_at_head(self.engine, self.settings.schema_name,
                                                                self.migrations)
        except Exception as exc:  # an unreachable database is a 'not ready', not a crash
            log.warning("readiness check failed", error=repr(exc))
        return checks

    async def _broker_ok(self) -> bool:
        try:
            return bool(await self.broker.ping(timeout=2.0))
        except Exception:
            return False

    # -- serving ------------------------------------------------------------------------------
    def asgi(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        routes = probe_routes(self.liveness, self.readiness, self.registry) + asyncapi_routes(self) + self.routes
        return Starlette(routes=routes, lifespan=lifespan,
                         middleware=[Middleware(RequestLimits, max_body_bytes=self.max_request_bytes)])

    def on_exit_signal(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` the moment SIGTERM/SIGINT arrives, before uvicorn waits for open connections to
        end: the place to end long-lived responses (an SSE stream would otherwise hold the shutdown
        for the whole graceful timeout and then be cut without a word)."""
        self._exit_signal_hooks.append(hook)

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT; uvicorn's shutdown runs :meth:`stop` (in-flight message, commit, close)."""
        hooks = self._exit_signal_hooks

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                for hook in hooks:
                    hook()
                super().handle_exit(sig, frame)

        Server(uvicorn.Config(self.asgi(), host=self.settings.http_host, port=self.settings.http_port,
                              log_config=None, access_log=False, lifespan="on",
                              timeout_graceful_shutdown=int(self.settings.graceful_timeout_s))).run()
