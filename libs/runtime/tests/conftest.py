"""Helpers the runtime's tests share.

* The Kafka wiring (test_kafka_wiring_*.py), against the real Tansu broker and a real Postgres: a
  service runtime on its test topics, every way a topic can be consumed (``mode``), signals and the
  triggers a handler makes of them, and the effects table a handler writes.
* Feature flags (test_flags_*.py): a features file, flag settings, counters, waiting for a change,
  and the FeatureFlags a test started (stopped after it).
* Record lanes (test_lanes_*.py): a record and a stand-in consumer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import topics
from torghut_contracts.enums import Side
from torghut_contracts.models import StrategyTrigger, TaSignal
from torghut_embedded.pytest_plugin import create_test_topics
from torghut_runtime import ServiceRuntime, ServiceSettings
from torghut_runtime.flags import FeatureFlags, FeatureFlagSettings, Flag
from torghut_runtime.testing import test_settings
from torghut_runtime.tracing import build_tracer_provider

# -- the Kafka wiring ------------------------------------------------------------------------------


MIGRATIONS = Path(__file__).parent / "migrations"
HOP_OUT = topics.TopicSpec("test.hop-out.v1", StrategyTrigger, "symbol", lambda m: m.symbol)
T0 = datetime(2026, 2, 12, 15, 31, tzinfo=UTC)


def signal(seq: int, symbol: str = "AAPL") -> TaSignal:
    return TaSignal(symbol=symbol, event_ts=T0, seq=seq, price=Decimal("100"), macd=Decimal("1"))


def trigger_for(s: TaSignal) -> StrategyTrigger:
    return StrategyTrigger(request_id=f"req-{s.symbol}-{s.seq}", strategy_id="test", symbol=s.symbol,
                           direction=Side.BUY, trigger_type="test", event_ts=s.event_ts, signal_seq=s.seq,
                           price=s.price or Decimal(1), triggered_at=T0)


async def record_effect(conn: AsyncConnection, s: TaSignal) -> None:
    await conn.execute(sa.text("INSERT INTO effects (symbol, seq) VALUES (:s, :q)"), {"s": s.symbol, "q": s.seq})


async def effects(runtime: ServiceRuntime) -> list[tuple[str, int]]:
    async with runtime.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(sa.text("SELECT symbol, seq FROM effects ORDER BY id"))]


@pytest.fixture(params=["per-message", "claim-last", "batch", "group-commit"])
def mode(request: pytest.FixtureRequest) -> dict[str, int]:
    """Every guarantee is checked every way a topic can be consumed: per message looking up the
    tracking record first, per message claiming it last (``claim_last``), in batches, and per
    message in group commits."""
    return {"per-message": {}, "claim-last": {"claim_last": True}, "batch": {"batch": 50},
            "group-commit": {"group_commit": True}}[request.param]


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    names = [topic_namespace + spec.name for spec in (topics.TA_SIGNALS, topics.TRIGGERS, HOP_OUT)]
    await create_test_topics(kafka_bootstrap, names + [n + ".dlq" for n in names])
    return topic_namespace


def make_runtime(kafka_bootstrap: str, database_url: str, prefix: str, name: str = "wiring-test",
                 exporter: InMemorySpanExporter | None = None, **overrides: object) -> ServiceRuntime:
    settings = test_settings(ServiceSettings, kafka_bootstrap=kafka_bootstrap, database_url=database_url,
                             topic_prefix=prefix, service_name=name, **overrides)
    provider = build_tracer_provider(name, None)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, tracer_provider=provider, configure_logs=False)
    runtime.produces(topics.TRIGGERS, HOP_OUT)
    return runtime


async def committed_groups(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(g for g, _ in await admin.list_consumer_groups() if g.startswith(prefix))
    finally:
        await admin.close()


# -- feature flags --------------------------------------------------------------------------------


SHORTS, QUOTE, FEED = Flag.ALLOW_SHORTS, Flag.SIGNAL_REQUIRE_QUOTE, Flag.ORDER_FEED_ENABLED


def features(**values: bool) -> str:
    lines = ["namespace: default", "flags:"]
    for key, enabled in values.items():
        lines += [f"  - key: {key}", "    type: BOOLEAN_FLAG_TYPE", f"    enabled: {str(enabled).lower()}"]
    return "\n".join(lines) + "\n"


def settings(url: str | None, **kw: Any) -> FeatureFlagSettings:
    return FeatureFlagSettings(enabled=True, url=url, refresh_interval_s=kw.pop("refresh_interval_s", 0.05),
                               timeout_ms=kw.pop("timeout_ms", 500), **kw)


def counter(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def running() -> AsyncIterator[list[FeatureFlags]]:
    """Collects FeatureFlags a test starts, and stops them after it."""
    started: list[FeatureFlags] = []
    yield started
    for flags in started:
        await flags.stop()


async def start(started: list[FeatureFlags], flags: FeatureFlags) -> FeatureFlags:
    started.append(flags)
    await flags.start()
    return flags


# -- record lanes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int


@dataclass
class Consumer:
    assigned: set[TopicPartition] = field(default_factory=lambda: {TopicPartition("a", 0), TopicPartition("a", 1),
                                                                   TopicPartition("b", 0)})
    commits: list[dict[tuple[str, int], int]] = field(default_factory=list)
    paused: set[TopicPartition] = field(default_factory=set)
    resumed: list[TopicPartition] = field(default_factory=list)
    failing_commits: int = 0

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)
        self.resumed.extend(tps)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.failing_commits:
            self.failing_commits -= 1
            raise CommitFailedError("membership changed")
        self.commits.append({(tp.topic, tp.partition): offset for tp, offset in offsets.items()})

    def committed(self) -> dict[tuple[str, int], int]:
        return {where: offset for commit in self.commits for where, offset in commit.items()}


def per_record(handle: Callable[[Record], Awaitable[bool]]) -> Callable[[list[Record]], Awaitable[list[Record]]]:
    """A lane handler for a one-record-at-a-time topic: done with the record, or not yet."""
    async def lane_handle(records: list[Record]) -> list[Record]:
        assert len(records) == 1, "a topic without a batch is handed one record at a time"
        return records if await handle(records[0]) else []
    return lane_handle


async def settle(condition, rounds: int = 1000) -> None:  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")
