"""Shared fixtures: example triggers and requests, and the local stand-in servers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from torghut_contracts.decision_engine import (
    DecisionRequest,
    PortfolioContext,
    RiskPolicyContext,
    TriggerContext,
)
from torghut_contracts.enums import Adapter, Side
from torghut_contracts.models import AccountSnapshot, Position, StrategyTrigger
from torghut_decision_client.testing.fake_engine import FakeEngine
from torghut_decision_client.testing.servers import serve
from torghut_embedded.llm_standin import LocalLlm

T0 = datetime(2026, 2, 12, 15, 31, 2, tzinfo=UTC)


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def make_trigger() -> Callable[..., StrategyTrigger]:
    def make(request_id: str = "req-1", *, symbol: str = "NVDA", direction: Side = Side.BUY,
             event_ts: datetime = T0, **overrides: Any) -> StrategyTrigger:
        values: dict[str, Any] = dict(
            request_id=request_id, strategy_id="macd-rsi-v1", symbol=symbol, direction=direction,
            trigger_type="macd_cross_up", event_ts=event_ts, signal_seq=42, price=Decimal("160.25"),
            features={"macd": Decimal("1.2"), "rsi14": Decimal("61.4")}, triggered_at=event_ts)
        values.update(overrides)
        return StrategyTrigger(**values)
    return make


@pytest.fixture
def make_snapshot() -> Callable[..., AccountSnapshot]:
    def make(snapshot_id: str = "snap-1", *, account: str = "paper-main", as_of: datetime = T0 - timedelta(seconds=30),
             **overrides: Any) -> AccountSnapshot:
        values: dict[str, Any] = dict(
            snapshot_id=snapshot_id, account=account, venue=Adapter.PAPER, as_of=as_of, equity=Decimal("100000"),
            cash=Decimal("98397.30"), buying_power=Decimal("196794.60"),
            positions=[Position(symbol="NVDA", qty=Decimal("10"), market_value=Decimal("1602.70")),
                       Position(symbol="AAPL", qty=Decimal("-5"), market_value=Decimal("-950"))])
        values.update(overrides)
        return AccountSnapshot(**values)
    return make


@pytest.fixture
def make_request() -> Callable[..., DecisionRequest]:
    def make(request_id: str = "req-1", *, symbol: str = "NVDA") -> DecisionRequest:
        return DecisionRequest(
            request_id=request_id, symbol=symbol, strategy_id="macd-rsi-v1", account="paper-main",
            trigger=TriggerContext(type="macd_cross_up", event_ts=T0, direction=Side.BUY, price=Decimal("160.25"),
                                   features={"macd": Decimal("1.2")}),
            portfolio=PortfolioContext(equity=Decimal("100000"), buying_power=Decimal("250000"),
                                       current_exposure=Decimal("42000")),
            risk_policy=RiskPolicyContext(max_notional_per_trade=Decimal("7000"),
                                          max_position_pct_equity=Decimal("0.08")),
        )
    return make


@pytest.fixture
async def fake_engine() -> AsyncIterator[tuple[FakeEngine, str]]:
    engine = FakeEngine()
    async with serve(engine.app) as url:
        yield engine, url
    await engine.aclose()


@pytest.fixture
async def local_llm() -> AsyncIterator[tuple[LocalLlm, str]]:
    llm = LocalLlm()
    async with serve(llm.app) as url:
        yield llm, url


REFERENCE_ENGINE_RUN_TIMEOUT_S = 2.0


@pytest.fixture(scope="session")
async def reference_engine_url(kafka_bootstrap: str, database_url: str) -> AsyncIterator[str]:
    """The real reference engine as a subprocess on its own fresh database (fault injection on,
    0.1 s heartbeat, 2 s hard run timeout), shared by the integration tests of this session."""
    import uuid

    from torghut_decision_client.testing.engine_process import reference_engine
    from torghut_embedded.postgres import create_database, drop_database

    name = f"t_engine_{uuid.uuid4().hex[:10]}"
    url = await create_database(database_url, name)
    try:
        async with reference_engine(kafka_bootstrap=kafka_bootstrap, database_url=url, heartbeat_s=0.1,
                                    run_timeout_s=REFERENCE_ENGINE_RUN_TIMEOUT_S) as engine:
            yield engine
    finally:
        await drop_database(database_url, name)
