"""Fixtures for the firewall against the real Tansu broker and a real Postgres, and for its handlers
called directly against a real Postgres (test_handlers_*.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.enums import Adapter, TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import AccountSnapshot, ControlCommand, TaSignal
from torghut_risk_firewall.adapters import store
from torghut_risk_firewall.adapters.handlers import FirewallHandlers
from torghut_risk_firewall.app import MIGRATIONS, build_runtime
from torghut_risk_firewall.domain.limits import RiskLimits
from torghut_risk_firewall.metrics import FirewallMetrics
from torghut_risk_firewall.settings import RiskFirewallSettings
from torghut_risk_firewall.testing import ACCOUNT, NOW
from torghut_runtime import ServiceRuntime
from torghut_runtime.testing import create_topics_for, eventually, migrated_engine, produce, test_settings
from torghut_runtime.tracing import build_tracer_provider

SPECS = (topics.DECISIONS, topics.CONTROL, topics.TRADE_UPDATES, topics.ACCOUNT_SNAPSHOTS, topics.TA_SIGNALS,
         topics.RISK_VERDICTS, topics.ORDERS_APPROVED)


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_topics_for(kafka_bootstrap, topic_namespace, *SPECS)
    return topic_namespace


@pytest.fixture
def make_firewall(kafka_bootstrap: str, fresh_database_url: str,
                  prefix: str) -> Callable[..., ServiceRuntime]:
    """A firewall on the test broker and database, judging at event time (replay clock)."""

    def make(**limits: Any) -> ServiceRuntime:
        settings = test_settings(RiskFirewallSettings, kafka_bootstrap=kafka_bootstrap,
                                 database_url=fresh_database_url, topic_prefix=prefix, service_name="risk-firewall",
                                 clock="event", risk_limits=RiskLimits(**limits))
        return build_runtime(settings, tracer_provider=build_tracer_provider("risk-firewall", None),
                             configure_logs=False)

    return make


Send = Callable[..., Awaitable[None]]


@pytest.fixture
def send(kafka_bootstrap: str, prefix: str) -> Send:
    async def send_one(spec: topics.TopicSpec[Any], message: Any, *, message_id: str | None = None,
                       raw: bytes | None = None, key: str = ACCOUNT) -> None:
        headers = MessageHeaders.new(spec.name, message_id=message_id)
        await produce(kafka_bootstrap, prefix + spec.name, raw if raw is not None else message, key=key,
                      headers=headers)

    return send_one


@pytest.fixture
def open_market(send: Send) -> Callable[[ServiceRuntime], Awaitable[None]]:
    """Kill switch off, an account snapshot and an AAPL price, then wait until the firewall holds them all."""

    async def setup(runtime: ServiceRuntime) -> None:
        opening = ControlCommand(command_id="open", scope="global", kill_switch=False,
                                 trading_state=TradingState.ACTIVE, issued_at=NOW - timedelta(hours=1))
        await send(topics.CONTROL, opening, key="global")
        await send(topics.ACCOUNT_SNAPSHOTS, AccountSnapshot(
            snapshot_id="snap-1", account=ACCOUNT, venue=Adapter.PAPER, as_of=NOW - timedelta(seconds=10),
            equity=Decimal(100_000), last_equity=Decimal(100_000), cash=Decimal(100_000),
            buying_power=Decimal(200_000)))
        await send(topics.TA_SIGNALS, TaSignal(symbol="AAPL", event_ts=NOW - timedelta(seconds=1), seq=1,
                                               price=Decimal(100)), key="AAPL")

        async def ready() -> bool:
            async with runtime.engine.connect() as conn:
                portfolio = await store.read_account(conn, ACCOUNT)
                control = await store.effective_control_for(conn, ACCOUNT)
                market = await store.market_for(conn, ["AAPL"])
            return portfolio is not None and portfolio.equity is not None and not control.kill_switch \
                and "AAPL" in market.marks

        await eventually(ready, what="control, snapshot and signal to be applied")

    return setup


# -- the handlers called directly (test_handlers_*.py) ----------------------------------------------
SCHEMA = "risk_firewall"


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(fresh_database_url, SCHEMA, MIGRATIONS) as engine:
        yield engine


@pytest.fixture
def handlers() -> FirewallHandlers:
    return FirewallHandlers((ACCOUNT,), RiskLimits(cooldown_s=Decimal(0)), "event",
                            FirewallMetrics(CollectorRegistry()))
