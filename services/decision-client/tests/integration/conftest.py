"""Fixtures the integration tests share: the service's topics under a test prefix, and a running app.

For the claims tests (test_claims_*.py), against the fake engine (loopback SSE): the engine client
counting requests (a request id given a gate waits for it), settings, triggers and an account
snapshot sent through the broker, and what the database holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from torghut_contracts import topics
from torghut_contracts.decision_engine import DecisionRequest
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import AccountSnapshot, StrategyTrigger
from torghut_decision_client.adapters.engine_client import DecisionEngineClient, EngineClientConfig
from torghut_decision_client.app import DecisionClientApp
from torghut_decision_client.domain.outcome import EngineOutcome
from torghut_decision_client.settings import DecisionClientSettings
from torghut_decision_client.testing.fake_engine import FakeEngine
from torghut_runtime.testing import create_topics_for, eventually, test_settings


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.TRIGGERS, topics.DECISIONS,
                            topics.ACCOUNT_SNAPSHOTS)
    return topic_namespace


@pytest.fixture
def running() -> Callable[[DecisionClientApp], Any]:
    """``async with running(app)``: the app's runtime started; transports closed after it stopped."""

    @contextlib.asynccontextmanager
    async def run(app: DecisionClientApp) -> AsyncIterator[DecisionClientApp]:
        async with app.runtime.running():
            yield app
        await app.aclose()

    return run


# -- the claims tests (test_claims_*.py) -----------------------------------------------------------
ACCOUNT = "paper-main"


class GatedTransport:
    """The engine client, counting requests; a request id given a gate waits for it to open first."""

    def __init__(self, inner: DecisionEngineClient) -> None:
        self.inner = inner
        self.name = inner.name
        self.requests: list[DecisionRequest] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def decide(self, request: DecisionRequest) -> EngineOutcome:
        self.requests.append(request)
        gate = self.gates.get(request.request_id)
        if gate is not None:
            await gate.wait()
        outcome: EngineOutcome = await self.inner.decide(request)
        return outcome

    async def aclose(self) -> None:
        await self.inner.aclose()

    def requested(self) -> list[str]:
        return [r.request_id for r in self.requests]


@pytest.fixture
async def engine(fake_engine: tuple[FakeEngine, str]) -> FakeEngine:
    fake_engine[0].heartbeat_s = 0.5  # 64 streams at once on two cores: fewer heartbeats
    return fake_engine[0]


@pytest.fixture
def make_settings(kafka_bootstrap: str, fresh_database_url: str, prefix: str,
                  fake_engine: tuple[FakeEngine, str]) -> Callable[..., DecisionClientSettings]:
    def make(**overrides: Any) -> DecisionClientSettings:
        values: dict[str, Any] = dict(decision_engine_url=fake_engine[1], decision_engine_read_timeout_s=10.0,
                                      decision_engine_stall_timeout_s=60.0, decision_deadline_s=60.0,
                                      decision_engine_backoff_initial_s=0.02, decision_engine_backoff_max_s=0.1)
        values.update(overrides)
        return test_settings(DecisionClientSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                             topic_prefix=prefix, service_name="decision-client", **values)
    return make


def client(settings: DecisionClientSettings) -> GatedTransport:
    return GatedTransport(DecisionEngineClient(EngineClientConfig.from_settings(settings)))


def trigger(request_id: str, sym: str, now: datetime) -> StrategyTrigger:
    return StrategyTrigger(request_id=request_id, strategy_id="macd-rsi-v1", symbol=sym, direction="buy",
                           trigger_type="macd_cross_up", event_ts=now, signal_seq=7, price=Decimal("160"),
                           features={"macd": Decimal("1.2"), "rsi14": Decimal("61")}, triggered_at=now)


async def produce_all(bootstrap: str, topic: str, items: list[tuple[Any, str, MessageHeaders]]) -> None:
    """(message, key, headers) in order, with one producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for message, key, headers in items:
            await producer.send_and_wait(topic, message.model_dump_json().encode(), key=key.encode(),
                                         headers=headers.as_kafka())
    finally:
        await producer.stop()


async def send_triggers(bootstrap: str, prefix: str, items: list[tuple[StrategyTrigger, str]]) -> None:
    await produce_all(bootstrap, prefix + topics.TRIGGERS.name, [
        (item, item.symbol, MessageHeaders.new(topics.TRIGGERS.name, message_id=message_id,
                                               correlation_id=item.request_id)) for item, message_id in items])


async def send_snapshot(bootstrap: str, prefix: str, app: DecisionClientApp, now: datetime) -> None:
    snap = AccountSnapshot(snapshot_id="snap-1", account=ACCOUNT, venue="paper", as_of=now - timedelta(seconds=5),
                           equity=Decimal(100_000), cash=Decimal(100_000), buying_power=Decimal(200_000), positions=[])
    await produce_all(bootstrap, prefix + topics.ACCOUNT_SNAPSHOTS.name,
                      [(snap, ACCOUNT, MessageHeaders.new(topics.ACCOUNT_SNAPSHOTS.name))])
    await eventually(lambda: counts(app, "SELECT count(*) FROM account_snapshots", 1), what="the snapshot stored")


async def scalar(app: DecisionClientApp, sql: str) -> Any:
    async with app.runtime.engine.connect() as conn:
        return (await conn.execute(sa.text(sql))).scalar()


async def counts(app: DecisionClientApp, sql: str, expect: int) -> bool:
    return bool(await scalar(app, sql) == expect)


def outcome_count(app: DecisionClientApp, outcome: str) -> float:
    return float(app.runtime.metrics.messages.labels(topic=topics.TRIGGERS.name, outcome=outcome)._value.get())
