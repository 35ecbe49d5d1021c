"""Builders for the router against the real Postgres (and, for the flows, the real Tansu broker).

Test files cannot import each other (``--import-mode=importlib``), so the builders are fixtures that
return factories.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from torghut_contracts import topics
from torghut_contracts.enums import Adapter, OrderType, Side, TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import ApprovedOrder, ControlCommand, TaSignal
from torghut_embedded.pytest_plugin import create_test_topics
from torghut_execution_router.app import MIGRATIONS, ExecutionRouterService, build_service
from torghut_execution_router.settings import ExecutionRouterSettings
from torghut_runtime import Inbound
from torghut_runtime.db import migrate
from torghut_runtime.testing import test_settings
from torghut_runtime.tracing import build_tracer_provider

FAST = {"reconcile_interval_s": 0.2, "outbox_poll_ms": 20, "snapshot_interval_s": 3600.0,
        "alpaca_stream_reconnect_min_s": 0.05, "alpaca_rate_limit_min_wait_s": 0.01, "lean_healthcheck_interval_s": 60}


def approved(coid: str | None = None, *, symbol: str = "NVDA", qty: str = "10", side: Side = Side.BUY,
             limit: str | None = None, hint: Adapter | None = None, account: str = "paper-main") -> ApprovedOrder:
    return ApprovedOrder(
        client_order_id=coid or f"th-{uuid.uuid4().hex[:24]}", decision_id=f"dec-{uuid.uuid4().hex[:8]}",
        request_id=f"req-{uuid.uuid4().hex[:8]}", account=account, symbol=symbol, side=side, qty=Decimal(qty),
        order_type=OrderType.LIMIT if limit else OrderType.MARKET, limit_price=Decimal(limit) if limit else None,
        reference_price=Decimal(100), max_slippage_bps=Decimal(25), adapter_hint=hint, approved_at=datetime.now(UTC))


def control(kill: bool = False, state: TradingState = TradingState.ACTIVE, scope: str = "global") -> ControlCommand:
    return ControlCommand(command_id=f"cmd-{uuid.uuid4().hex[:8]}", scope=scope, kill_switch=kill,
                          trading_state=state, issued_at=datetime.now(UTC))


def signal(price: str, seq: int, symbol: str = "NVDA") -> TaSignal:
    return TaSignal(symbol=symbol, event_ts=datetime.now(UTC), seq=seq, price=Decimal(price))


def inbound(message: Any, topic: str) -> Inbound[Any]:
    return Inbound(payload=message, headers=MessageHeaders.new(topic, correlation_id="corr-test"), topic=topic,
                   partition=0, offset=0, key=None, timestamp=datetime.now(UTC))


@pytest.fixture
def make_messages() -> dict[str, Callable[..., Any]]:
    """approved(...), control(...), signal(...), inbound(msg, topic) builders."""
    return {"approved": approved, "control": control, "signal": signal, "inbound": inbound}


def _settings(kafka_bootstrap: str, database_url: str, prefix: str, **overrides: Any) -> ExecutionRouterSettings:
    return test_settings(ExecutionRouterSettings, kafka_bootstrap=kafka_bootstrap, database_url=database_url,
                         topic_prefix=prefix, service_name="execution-router", **{**FAST, **overrides})


@pytest.fixture
async def offline_router(fresh_database_url: str) -> AsyncIterator[Callable[..., Any]]:
    """A router over a migrated database, broker not started: call its handlers directly."""
    built: list[ExecutionRouterService] = []

    async def make(**overrides: Any) -> ExecutionRouterService:
        flag_settings = overrides.pop("flag_settings", None)
        settings = _settings("127.0.0.1:1", fresh_database_url, "", **overrides)
        service = build_service(settings, tracer_provider=build_tracer_provider("execution-router", None),
                                configure_logs=False, flag_settings=flag_settings)
        await migrate(service.runtime.engine, settings.schema_name, MIGRATIONS)
        built.append(service)
        return service

    yield make
    for service in built:
        for venue in service.venues.values():
            with contextlib.suppress(Exception):
                await venue.close()
        await service.runtime.engine.dispose()


@pytest.fixture
async def router_prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    specs = (topics.ORDERS_APPROVED, topics.CONTROL, topics.TA_SIGNALS, topics.TRADE_UPDATES,
             topics.ACCOUNT_SNAPSHOTS)
    names = [topic_namespace + s.name for s in specs]
    await create_test_topics(kafka_bootstrap, names + [n + ".dlq" for n in names])
    return topic_namespace


@pytest.fixture
def live_router(kafka_bootstrap: str, fresh_database_url: str, router_prefix: str) -> Callable[..., Any]:
    """``live_router(**settings)`` -> an unstarted service on the real broker; run it with ``runtime.running()``.
    ``flag_settings=`` (feature flags) defaults to the environment."""

    def make(**overrides: Any) -> ExecutionRouterService:
        flag_settings = overrides.pop("flag_settings", None)
        settings = _settings(kafka_bootstrap, fresh_database_url, router_prefix, **overrides)
        return build_service(settings, tracer_provider=build_tracer_provider("execution-router", None),
                             configure_logs=False, flag_settings=flag_settings)

    return make
