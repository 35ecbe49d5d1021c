"""Builders for tests and the benchmark: a decision, a portfolio, a market, at a known instant.

``NOW`` is a Thursday 11:00 in New York, inside the regular session and before the cutoff, so a
plain decision built here passes every check unless a test changes one thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.enums import Action, Adapter, OrderType, TradingState
from torghut_contracts.models import (
    AccountSnapshot,
    ControlCommand,
    Decision,
    DecisionIntent,
    EngineProvenance,
    OrderConstraints,
    TaSignal,
)
from torghut_contracts.posture import TradingPosture

from .domain.limits import RiskLimits
from .domain.state import Mark, MarketState, OpenOrder, PortfolioState

NOW = datetime(2026, 2, 12, 16, 0, tzinfo=UTC)  # 11:00 America/New_York, a Thursday
ACCOUNT = "paper-main"
ACTIVE = TradingPosture(kill_switch=False)




async def account_state(engine: AsyncEngine, account: str = ACCOUNT) -> PortfolioState | None:
    """The account's state as stored in Postgres."""
    from .adapters import store

    async with engine.connect() as conn:
        return await store.read_account(conn, account)


def D(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def decision(action: str = "buy", qty: Any = 10, symbol: str = "AAPL", price: Any = 100, *,
             account: str = ACCOUNT, decision_id: str = "dec-1", limit_price: Any = None,
             signal_age_s: float = 1.0, decided_age_s: float = 0.5, now: datetime = NOW,
             extended_hours: bool = False, validate: bool = True) -> Decision:
    """A decision; ``validate=False`` builds one the contract would refuse (qty 0, NaN price)."""
    order_type = OrderType.LIMIT if limit_price is not None else OrderType.MARKET
    act = Action(action)
    quantity = D(0) if act is Action.HOLD else D(qty)
    if validate:
        order = OrderConstraints(order_type=order_type, limit_price=None if limit_price is None else D(limit_price),
                                 extended_hours=extended_hours)
        intent = DecisionIntent(action=act, qty=quantity, order=order)
    else:
        order = OrderConstraints.model_construct(order_type=order_type, extended_hours=extended_hours,
                                                 limit_price=None if limit_price is None else D(limit_price))
        intent = DecisionIntent.model_construct(action=act, qty=quantity, order=order, max_slippage_bps=D(25),
                                                adapter_hint=None)
    fields = dict(
        decision_id=decision_id, request_id=f"req-{decision_id}", account=account, symbol=symbol,
        strategy_id="test", intent=intent, confidence=D("0.7"),
        reference_price=None if price is None else D(price),
        signal_event_ts=now - timedelta(seconds=signal_age_s), decided_at=now - timedelta(seconds=decided_age_s),
        provenance=EngineProvenance(transport="test", mode="deterministic"),
    )
    return Decision(**fields) if validate else Decision.model_construct(**fields)  # type: ignore[arg-type]


def portfolio(*, equity: Any = 100_000, buying_power: Any = 200_000, positions: Mapping[str, Any] | None = None,
              open_orders: tuple[OpenOrder, ...] = (), snapshot_age_s: float = 10.0, now: datetime = NOW,
              **changes: Any) -> PortfolioState:
    return PortfolioState(
        account=changes.pop("account", ACCOUNT),
        equity=None if equity is None else D(equity),
        buying_power=None if buying_power is None else D(buying_power),
        snapshot_as_of=now - timedelta(seconds=snapshot_age_s),
        positions={s: D(q) for s, q in (positions or {}).items()},
        open_orders=open_orders,
        **changes,
    )


def market(prices: Mapping[str, Any] | None = None, *, volume: Any = None, age_s: float = 1.0,
           now: datetime = NOW) -> MarketState:
    prices = {"AAPL": 100} if prices is None else prices
    return MarketState({s: Mark(D(p), now - timedelta(seconds=age_s), None if volume is None else D(volume))
                        for s, p in prices.items()})


def limits(**changes: Any) -> RiskLimits:
    return RiskLimits(**changes)


def opening(accounts: Sequence[str], symbols: Sequence[str], *, equity: Any = 10_000_000,
            price: Any = 100) -> list[tuple[topics.TopicSpec[Any], Any]]:
    """What a firewall needs before it approves at ``NOW``, as (topic, message) to produce: the kill switch
    off, a snapshot of each account, a mark of each symbol."""
    messages: list[tuple[topics.TopicSpec[Any], Any]] = [(topics.CONTROL, ControlCommand(
        command_id="open", scope="global", kill_switch=False, trading_state=TradingState.ACTIVE,
        issued_at=NOW - timedelta(hours=1)))]
    messages += [(topics.ACCOUNT_SNAPSHOTS, AccountSnapshot(
        snapshot_id=f"s-{account}", account=account, venue=Adapter.PAPER, as_of=NOW - timedelta(seconds=5),
        equity=D(equity), cash=D(equity), buying_power=2 * D(equity))) for account in accounts]
    messages += [(topics.TA_SIGNALS, TaSignal(symbol=symbol, event_ts=NOW - timedelta(seconds=1), seq=1,
                                              price=D(price))) for symbol in symbols]
    return messages
