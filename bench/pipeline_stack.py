"""The five services of ``torghut demo`` as OS processes on a topic prefix and database of their own.

:class:`Pipeline` is the stack the real-pipeline phases share: it starts and stops the services,
sends what the bench offers them and reads their CPU and memory. It lives apart from
:mod:`bench.pipeline` (which runs the phases and gathers the figures) so that the phases,
:mod:`bench.signal_to_fill`, :mod:`bench.decision_path` and :mod:`bench.sustained_rate`, and the
burst in :mod:`bench.burst` can take it without importing the module that imports them.
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

from .procfs import cpu_seconds, cpu_seconds_tree, peak_rss_mb


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
