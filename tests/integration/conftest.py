"""The whole suite as separate processes on the real broker and Postgres, isolated per test.

Each test gets its own topic prefix (``TOPIC_PREFIX``) and its own database, so suites never see
each other's messages or state, and every service runs exactly as in production: its own process,
its own schema, configured only through the environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from torghut_cli.demo.processes import ServiceFailed, ServiceProcess
from torghut_cli.demo.stack import ACCOUNT, service_plan
from torghut_contracts import topics
from torghut_contracts.enums import TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import GLOBAL_SCOPE, ControlCommand, TaSignal
from torghut_runtime.testing import Record, create_topics_for, produce, read_records

SESSION_OPEN = datetime(2026, 2, 12, 14, 30, tzinfo=UTC)  # 09:30 New York


def _readable(record: Record, spec: topics.TopicSpec) -> bool:  # type: ignore[type-arg]
    try:
        spec.decode(record.value)
    except ValidationError:
        return False  # the poison messages a test planted
    return True


@dataclass
class Suite:
    bootstrap: str
    database_url: str
    prefix: str
    log_dir: Path
    services: dict[str, ServiceProcess]

    def topic(self, spec: topics.TopicSpec) -> str:  # type: ignore[type-arg]
        return self.prefix + spec.name

    async def send_signal(self, signal: TaSignal) -> None:
        await produce(
            self.bootstrap,
            self.topic(topics.TA_SIGNALS),
            signal,
            key=signal.symbol,
            headers=MessageHeaders.new(topics.TA_SIGNALS.name),
        )

    async def control(
        self, *, kill_switch: bool, state: TradingState = TradingState.ACTIVE, at: datetime | None = None
    ) -> None:
        command = ControlCommand(
            command_id=f"cmd-{datetime.now(UTC).timestamp()}",
            scope=GLOBAL_SCOPE,
            kill_switch=kill_switch,
            trading_state=state,
            reason="test",
            issued_at=at or datetime.now(UTC),
        )
        await produce(
            self.bootstrap,
            self.topic(topics.CONTROL),
            command,
            key=GLOBAL_SCOPE,
            headers=MessageHeaders.new(topics.CONTROL.name),
        )

    def restart(self, name: str) -> None:
        service = self.services[name]
        service.start()
        service.wait_ready(timeout_s=90)

    def add_replica(self, name: str) -> ServiceProcess:
        """A second process of service ``name``, configured alike: it joins the same consumer groups."""
        original = self.services[name]
        replica = ServiceProcess(f"{name}-2", original.module, dict(original.env), self.log_dir)
        self.services[replica.name] = replica
        replica.start()
        replica.wait_ready(timeout_s=90)
        return replica

    async def wait_for(
        self,
        spec: topics.TopicSpec,
        predicate: Callable[[Any], bool],
        *,  # type: ignore[type-arg]
        count: int = 1,
        timeout: float = 60.0,
        prefix: str | None = None,
    ) -> list[Record]:
        """Poll a topic until ``count`` records satisfy ``predicate``; else fail showing every stage."""
        topic = (self.prefix if prefix is None else prefix) + spec.name
        deadline = asyncio.get_running_loop().time() + timeout
        matching: list[Record] = []
        while asyncio.get_running_loop().time() < deadline:
            records = await read_records(self.bootstrap, topic, expect=10_000, timeout=0.3)
            matching = [r for r in records if _readable(r, spec) and predicate(r.model(spec))]
            if len(matching) >= count:
                return matching
            await asyncio.sleep(0.2)
        stages = []
        for each in topics.ALL_TOPICS:
            found = await read_records(self.bootstrap, self.prefix + each.name, expect=10_000, timeout=0.3)
            dead = await read_records(self.bootstrap, self.prefix + each.dlq.name, expect=10_000, timeout=0.3)
            stages.append(f"{each.name}: {len(found)} (dlq {len(dead)})")
        raise AssertionError(
            f"{topic}: wanted {count} matching records, got {len(matching)}\n" + "\n".join(stages) + "\n" + self.logs()
        )

    def logs(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.log_tail(15)}" for s in self.services.values())


def signal(
    symbol: str,
    minute: int,
    *,
    macd: str,
    macd_signal: str,
    rsi: str = "55",
    price: str = "100",
    seq: int | None = None,
) -> TaSignal:
    """A one-minute TA signal ``minute`` minutes into the 2026-02-12 session, with a tight quote."""
    p = Decimal(price)
    return TaSignal(
        symbol=symbol,
        event_ts=SESSION_OPEN + timedelta(minutes=minute),
        seq=seq or minute,
        price=p,
        macd=Decimal(macd),
        macd_signal=Decimal(macd_signal),
        rsi14=Decimal(rsi),
        bid=p - Decimal("0.01"),
        ask=p + Decimal("0.01"),
        spread_bps=Decimal("2"),
        volume=Decimal(50000),
        window="PT1M",
    )


def cross_up(symbol: str, minute: int, price: str = "100") -> list[TaSignal]:
    """Two signals whose MACD crosses above its signal line: a buy trigger on the second."""
    return [
        signal(symbol, minute, macd="-0.10", macd_signal="0.00", price=price),
        signal(symbol, minute + 1, macd="0.12", macd_signal="0.00", price=price),
    ]


@pytest.fixture
def start_suite(
    kafka_bootstrap: str, fresh_database_url: str, topic_namespace: str, tmp_path: Path
) -> Iterator[Callable[..., AsyncIterator[Suite]]]:
    started: list[ServiceProcess] = []

    async def start(*, partitions: int = 1, **extra_env: str) -> Suite:
        await create_topics_for(kafka_bootstrap, topic_namespace, *topics.ALL_TOPICS, partitions=partitions)
        env = {
            "TOPIC_PREFIX": topic_namespace,
            "KAFKA_SESSION_TIMEOUT_MS": "1000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "200",
            "KAFKA_FETCH_MAX_WAIT_MS": "20",
            "SNAPSHOT_INTERVAL_S": "2",
            "DECISION_CLIENT_WORKERS": "1",
            **extra_env,
        }
        plan = service_plan(kafka_bootstrap, fresh_database_url, tmp_path / "logs", env)
        for service in plan:
            service.start()
            started.append(service)
        try:
            for service in plan:
                service.wait_ready(timeout_s=90)
        except ServiceFailed as exc:
            pytest.fail(str(exc))
        suite = Suite(kafka_bootstrap, fresh_database_url, topic_namespace, tmp_path / "logs",
                      {s.name: s for s in plan})
        suites.append(suite)
        return suite

    suites: list[Suite] = []
    yield start  # type: ignore[misc]
    replicas = [s for suite in suites for s in suite.services.values() if all(s is not t for t in started)]
    for service in reversed(started + replicas):
        service.stop(grace_s=10)


@dataclass(frozen=True)
class Market:
    """Signal builders, handed to tests as a fixture (test modules cannot import this conftest)."""

    signal: Callable[..., TaSignal] = signal
    cross_up: Callable[..., list[TaSignal]] = cross_up
    account: str = ACCOUNT


@pytest.fixture
def market() -> Market:
    return Market()
