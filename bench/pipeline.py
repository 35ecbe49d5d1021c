"""The real pipeline, signal to fill, every service its own OS process, as ``torghut demo`` runs it.

decision-engine (deterministic skills, no LM), execution-router (built-in paper venue),
risk-firewall, decision-client and signal-trigger are started with the demo's replay settings
(:data:`torghut_cli.demo.stack.REPLAY_ENV`: event-time clocks for a recorded 2026-02-12 session) on
their own topic prefix and database. The kill switch is turned off with a control command, as an
operator would, and then:

* **latency**: one MACD cross at a time. For every symbol the bench alternates the MACD above and
  below its signal line, so every signal after the first completes a cross (a buy, then a sell
  that closes it). The clock starts when the completing signal is produced and stops when the
  observer reads the ``fill`` trade update whose ``x-correlation-id`` is the trigger's request id,
  so no two samples can be confused. The intermediate topics are read too, which splits each
  sample into its stages. Before the next cross the bench waits (untimed) for the account
  snapshot that follows the fill and then 0.2 s for its consumers to apply it, so the sell sees
  the position it closes and each sample starts on a quiet pipeline, as a bare-chain sample does.
* **decision path**: copies of a real trigger produced at once onto ``torghut.triggers.v1``;
  decisions per second through decision-client and decision-engine.
* **sustained rate**: signals are offered at a rising rate, a few seconds per step, and the
  consumer groups that read ``torghut.ta.signals.v1`` (signal-trigger, risk-firewall and
  execution-router) are watched. A step is sustained when every group consumed at least 90 % of
  what was offered during it and had caught up again within a second after it; the figure is the
  highest sustained step.
* **peak RSS** of every service process (``VmHWM``), read at the end, and **idle CPU** (each
  process, the broker and Postgres, a few seconds with nothing to do).

The phases are modules of their own: :mod:`bench.signal_to_fill`, :mod:`bench.decision_path`,
:mod:`bench.sustained_rate`; this one starts and stops the services and gathers the figures.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from torghut_cli.demo.processes import ServiceProcess
from torghut_cli.demo.stack import service_plan
from torghut_contracts import topics
from torghut_contracts.enums import TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import GLOBAL_SCOPE, ControlCommand, StrategyTrigger
from torghut_embedded.kafka import TopicSpec, create_topics, delete_topics
from torghut_embedded.postgres import create_database, drop_database

from .decision_path import decision_burst
from .procfs import cpu_seconds, cpu_seconds_tree, peak_rss_mb
from .scrape import mean_ms, snapshot
from .signal_to_fill import measure_latency
from .sustained_rate import DEFAULT_RATES, sustained_rate


@dataclass
class Pipeline:
    """The five services as processes on their own topic prefix and database, and what the bench sends."""

    bootstrap: str
    admin_url: str
    log_dir: Path
    fetch_max_wait_ms: int = 20
    prefix: str = field(default_factory=lambda: f"pipe{uuid.uuid4().hex[:6]}.")
    database: str = field(default_factory=lambda: f"bench_pipe_{uuid.uuid4().hex[:8]}")
    services: list[ServiceProcess] = field(default_factory=list)
    producer: AIOKafkaProducer | None = None
    startup_s: float = 0.0
    template_trigger: StrategyTrigger | None = None
    idle_pct: dict[str, float] = field(default_factory=dict)
    infra: dict[str, int] = field(default_factory=dict)
    """``{"kafka": pid, "postgres": pid}`` of the embedded stack, for CPU accounting."""
    env: dict[str, str] = field(default_factory=dict)
    """Settings for every service on top of the demo's (the burst raises the firewall's rate limits)."""

    def topic(self, spec: topics.TopicSpec[Any]) -> str:
        return self.prefix + spec.name

    def topic_specs(self) -> list[TopicSpec]:
        specs = []
        for spec in topics.ALL_TOPICS:
            specs.append(TopicSpec(self.topic(spec), spec.partitions, spec.config))
            specs.append(TopicSpec(self.topic(spec) + topics.DLQ_SUFFIX, spec.partitions, spec.dlq.config))
        return specs

    async def start(self) -> None:
        started = time.perf_counter()
        await create_topics(self.bootstrap, self.topic_specs(), include_dlq=False)
        database_url = await create_database(self.admin_url, self.database)
        env = {"TOPIC_PREFIX": self.prefix, "KAFKA_SESSION_TIMEOUT_MS": "1000", "KAFKA_HEARTBEAT_INTERVAL_MS": "200",
               "KAFKA_FETCH_MAX_WAIT_MS": str(self.fetch_max_wait_ms), **self.env}
        self.services = service_plan(self.bootstrap, database_url, self.log_dir, env)
        for service in self.services:
            service.start()
        for service in self.services:
            service.wait_ready(timeout_s=120)
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=False)
        await self.producer.start()
        command = ControlCommand(command_id=f"bench-open-{uuid.uuid4().hex[:8]}", scope=GLOBAL_SCOPE,
                                 kill_switch=False, trading_state=TradingState.ACTIVE, reason="bench",
                                 issued_at=datetime.now(UTC))
        await self.send(topics.CONTROL, command, GLOBAL_SCOPE)
        self.startup_s = time.perf_counter() - started

    async def send(self, spec: topics.TopicSpec[Any], message: Any, key: str, *, wait: bool = True) -> None:
        assert self.producer is not None
        headers = MessageHeaders.new(spec.name).as_kafka()
        future = await self.producer.send(self.topic(spec), spec.encode(message), key=key.encode(), headers=headers)
        if wait:
            await future

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
        for service in reversed(self.services):
            service.stop(grace_s=10)
        try:
            await delete_topics(self.bootstrap, [s.name for s in self.topic_specs()])
        finally:
            await drop_database(self.admin_url, self.database)

    async def idle_cpu(self, seconds: float) -> dict[str, float]:
        """Per cent of one core each service burns doing nothing (polling fetches, heartbeats, timers)."""
        before, started = self.cpu(), time.perf_counter()
        await asyncio.sleep(seconds)
        after, elapsed = self.cpu(), time.perf_counter() - started
        self.idle_pct = {name: round((after[name] - before[name]) / elapsed * 100, 1) for name in before}
        return self.idle_pct

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each service process, the broker, Postgres and this process."""
        out = {s.name: cpu_seconds(s.process.pid) or 0.0 for s in self.services if s.process is not None}
        for name, pid in self.infra.items():
            out[name] = cpu_seconds_tree(pid) or 0.0
        out["bench"] = time.process_time()
        return out

    def peak_rss(self) -> dict[str, float | None]:
        return {s.name: peak_rss_mb(s.process.pid) if s.process is not None else None for s in self.services}


async def run_pipeline(bootstrap: str, admin_url: str, log_dir: Path, *, infra: dict[str, int] | None = None,
                       samples: int = 60, warmup: int = 4,
                       rates: list[int] | None = None, step_s: float = 4.0, idle_s: float = 3.0, burst: int = 60,
                       fetch_max_wait_ms: int = 20) -> dict[str, Any]:
    pipeline = Pipeline(bootstrap, admin_url, log_dir, fetch_max_wait_ms=fetch_max_wait_ms, infra=dict(infra or {}))
    try:
        await pipeline.start()
        figures: dict[str, Any] = {"startup_s": round(pipeline.startup_s, 1), "fetch_max_wait_ms": fetch_max_wait_ms,
                                   "log_dir": str(log_dir)}
        idle = figures["idle_cpu_pct"] = await pipeline.idle_cpu(idle_s)
        endpoints = [(s.name, s.url) for s in pipeline.services]
        metrics_before, cpu_before, started = await snapshot(endpoints), pipeline.cpu(), time.perf_counter()
        figures["latency"] = await measure_latency(pipeline, samples, warmup)
        cpu_after, elapsed = pipeline.cpu(), time.perf_counter() - started
        figures["latency"]["inside_services"] = mean_ms(metrics_before, await snapshot(endpoints))
        crosses = samples + warmup
        figures["latency"]["cpu_ms_per_cross_above_idle"] = {
            name: round(((cpu_after[name] - cpu_before[name]) - idle[name] / 100 * elapsed) * 1000 / crosses, 1)
            for name in cpu_before}
        figures["decision_burst"] = await decision_burst(pipeline, burst)
        figures["rate"] = await sustained_rate(pipeline, rates or list(DEFAULT_RATES), step_s)
        figures["peak_rss_mb"] = pipeline.peak_rss()
        return figures
    finally:
        await pipeline.stop()
