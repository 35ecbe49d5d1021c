"""Calling the firewall's handlers directly against a real Postgres, one message in its own transaction
as the runtime runs it (test_handlers_*.py): the message, an account snapshot, the market opened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts.enums import Adapter, TradingState
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import AccountSnapshot, ControlCommand, TaSignal
from torghut_risk_firewall.adapters.handlers import FirewallHandlers
from torghut_risk_firewall.testing import ACCOUNT, NOW
from torghut_runtime import Inbound


def inbound(payload: Any) -> Inbound[Any]:
    return Inbound(payload, MessageHeaders.new("test"), "test", 0, 0, None, datetime.now(UTC))


async def feed(engine: AsyncEngine, handler: Any, payload: Any) -> list[Any]:
    """One message in its own transaction, as the runtime runs it (a buffering handler's flush included)."""
    async with engine.begin() as conn:
        out = list(await handler(inbound(payload), conn))
        flush = getattr(handler, "flush", None)
        if flush is not None:
            await flush(conn)
        return out


def snapshot(equity: int, at: datetime, positions: Any = ()) -> AccountSnapshot:
    return AccountSnapshot(snapshot_id=f"s-{at.isoformat()}", account=ACCOUNT, venue=Adapter.PAPER, as_of=at,
                           equity=Decimal(equity), last_equity=Decimal(100_000), cash=Decimal(0),
                           buying_power=Decimal(200_000), positions=list(positions))


async def open_market(engine: AsyncEngine, handlers: FirewallHandlers, at: datetime = NOW) -> None:
    await feed(engine, handlers.on_control, ControlCommand(command_id="open", scope="global", kill_switch=False,
                                                           trading_state=TradingState.ACTIVE, issued_at=at))
    await feed(engine, handlers.on_signal, TaSignal(symbol="AAPL", event_ts=at - timedelta(seconds=1), seq=1,
                                                    price=Decimal(100)))
