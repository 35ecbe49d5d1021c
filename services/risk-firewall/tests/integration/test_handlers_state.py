"""Handlers and operator routes against a real Postgres (no broker needed for these paths): the state
they keep.

A losing snapshot latches REDUCING, the latch survives until an operator resets it over HTTP; the
end-of-day sweep emits one closing order per position with a stored verdict; another account's
decision is vetoed and recorded; a trade update is applied once, even as the account's first message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from torghut_contracts import topics
from torghut_contracts.enums import Adapter, OrderStatus, Side, TradeEvent, TradingState, VerdictOutcome
from torghut_contracts.models import AccountSnapshot, ControlCommand, OrderState, Position, TaSignal, TradeUpdate
from torghut_risk_firewall.adapters.handlers import FirewallHandlers
from torghut_risk_firewall.adapters.http import operator_routes
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.domain.windows import NEW_YORK
from torghut_risk_firewall.testing import ACCOUNT, NOW, account_state, decision

from .handler_calls import feed, open_market, snapshot


async def test_a_loss_latches_reducing_until_an_operator_resets_it(engine: AsyncEngine,
                                                                    handlers: FirewallHandlers) -> None:
    await open_market(engine, handlers)
    await feed(engine, handlers.on_snapshot, snapshot(98_900, NOW - timedelta(seconds=5)))
    out = await feed(engine, handlers.on_decision, decision(decision_id="after-loss"))
    verdict = out[0].message
    assert verdict.outcome is VerdictOutcome.VETO and verdict.trading_state is TradingState.REDUCING
    assert {r.DAILY_LOSS_STOP, r.TRADING_STATE_REDUCING} <= set(verdict.reason_codes)
    # Recovering equity does not lift the latch; re-stating ACTIVE does not either.
    await feed(engine, handlers.on_snapshot, snapshot(100_500, NOW - timedelta(seconds=4)))
    await feed(engine, handlers.on_control, ControlCommand(command_id="again", scope="global", kill_switch=False,
                                                           trading_state=TradingState.ACTIVE,
                                                           issued_at=NOW + timedelta(seconds=1)))
    still = await feed(engine, handlers.on_decision, decision(decision_id="still-latched"))
    assert still[0].message.outcome is VerdictOutcome.VETO

    locked = Starlette(routes=operator_routes(engine, handlers, (ACCOUNT,)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=locked), base_url="http://firewall") as client:
        disabled = await client.post(f"/api/risk/v1/accounts/{ACCOUNT}/latches/reset",
                                     json={"operator": "alice", "reason": "no token configured"})
        assert disabled.status_code == 503 and "RISK_OPERATOR_TOKEN" in disabled.json()["error"]
    app = Starlette(routes=operator_routes(engine, handlers, (ACCOUNT,), SecretStr("s3cret")))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://firewall") as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            refused = await client.post(f"/api/risk/v1/accounts/{ACCOUNT}/latches/reset", headers=headers,
                                        json={"operator": "mallory", "reason": "let me trade"})
            assert refused.status_code == 401
        client.headers["Authorization"] = "Bearer s3cret"
        bad = await client.post(f"/api/risk/v1/accounts/{ACCOUNT}/latches/reset", content=b"{}")
        assert bad.status_code == 422
        reset = await client.post(f"/api/risk/v1/accounts/{ACCOUNT}/latches/reset",
                                  json={"operator": "alice", "reason": "reviewed the loss"})
        assert reset.status_code == 200 and reset.json()["cleared"] == [r.DAILY_LOSS_STOP]
        view = (await client.get(f"/api/risk/v1/accounts/{ACCOUNT}")).json()
        assert view["state"]["latches"] == [] and view["control"]["kill_switch"] is False
        limits = (await client.get("/api/risk/v1/limits")).json()
        assert limits["max_orders_per_minute"] == 120
        assert limits["sources"]["allow_shorts"] == {"source": "settings", "flag": "torghut_trading_allow_shorts",
                                                     "configured": False}  # flags off: the settings
        assert {v["source"] for v in limits["sources"].values()} == {"settings"}
        assert (await client.get("/api/risk/v1/accounts/nobody")).status_code == 404
    after = await feed(engine, handlers.on_decision, decision(decision_id="after-reset"))
    assert after[0].message.outcome is VerdictOutcome.APPROVE
    async with engine.connect() as conn:
        events = [tuple(row) for row in await conn.execute(
            sa.text("SELECT action, reason, operator FROM latch_events ORDER BY id"))]
    assert events == [("latched", r.DAILY_LOSS_STOP, None), ("reset", r.DAILY_LOSS_STOP, "alice")]


async def test_the_flatten_sweep_emits_closing_orders_once_with_stored_verdicts(engine: AsyncEngine,
                                                                                handlers: FirewallHandlers) -> None:
    at = datetime(2026, 2, 12, 15, 45, 30, tzinfo=NEW_YORK).astimezone(UTC)
    await open_market(engine, handlers, at=at - timedelta(minutes=20))
    await feed(engine, handlers.on_snapshot, snapshot(100_000, at - timedelta(minutes=20), positions=[
        Position(symbol="AAPL", qty=Decimal(12), market_value=Decimal(1200))]))
    before = await feed(engine, handlers.on_signal, TaSignal(symbol="AAPL", event_ts=at - timedelta(minutes=10),
                                                             seq=2, price=Decimal(101)))
    assert before == []
    out = await feed(engine, handlers.on_signal, TaSignal(symbol="AAPL", event_ts=at, seq=3, price=Decimal(101)))
    assert [o.spec for o in out] == [topics.RISK_VERDICTS, topics.ORDERS_APPROVED]
    verdict, order = out[0].message, out[1].message
    assert verdict.reason_codes == [r.SCHEDULED_FLATTEN] and verdict.outcome is VerdictOutcome.APPROVE
    assert (order.side, order.qty, order.reference_price) == (Side.SELL, Decimal(12), Decimal(101))
    assert order.client_order_id == verdict.client_order_id
    again = await feed(engine, handlers.on_signal, TaSignal(symbol="AAPL", event_ts=at + timedelta(seconds=5),
                                                            seq=4, price=Decimal(101)))
    assert again == []
    state = await account_state(engine)
    assert state is not None and [(o.side, o.remaining_qty) for o in state.open_orders] == [(Side.SELL, 12)]
    late_buy = await feed(engine, handlers.on_decision, decision(decision_id="late", now=at))
    assert r.FLATTEN_WINDOW in late_buy[0].message.reason_codes


async def test_another_accounts_decision_is_vetoed_and_recorded(engine: AsyncEngine,
                                                                 handlers: FirewallHandlers) -> None:
    await open_market(engine, handlers)
    out = await feed(engine, handlers.on_decision, decision(account="someone-else", decision_id="foreign"))
    assert len(out) == 1 and out[0].message.reason_codes == [r.ACCOUNT_NOT_MANAGED]
    replay = await feed(engine, handlers.on_decision, decision(account="someone-else", decision_id="foreign"))
    assert replay[0].message == out[0].message
    assert await account_state(engine, "someone-else") is None


def fill_of(coid: str, symbol: str, qty: int, fingerprint: str) -> TradeUpdate:
    return TradeUpdate(fingerprint=fingerprint * 64, account=ACCOUNT, venue=Adapter.PAPER, event=TradeEvent.FILL,
                       timestamp=NOW, order=OrderState(client_order_id=coid, symbol=symbol, side=Side.BUY,
                                                       qty=Decimal(qty), filled_qty=Decimal(qty),
                                                       status=OrderStatus.FILLED),
                       fill_qty=Decimal(qty), fill_price=Decimal(100))


async def test_a_trade_update_is_applied_once_even_as_the_accounts_first_message(
        engine: AsyncEngine, handlers: FirewallHandlers) -> None:
    await feed(engine, handlers.on_trade_update, fill_of("manual-1", "AAPL", 7, "a"))
    await feed(engine, handlers.on_trade_update, fill_of("manual-1", "AAPL", 7, "a"))  # resent by the venue
    state = await account_state(engine)
    assert state is not None and state.positions == {"AAPL": Decimal(7)}
    await feed(engine, handlers.on_trade_update, fill_of("manual-2", "AAPL", 3, "b"))
    await feed(engine, handlers.on_trade_update, fill_of("manual-2", "AAPL", 3, "b"))
    state = await account_state(engine)
    assert state is not None and state.positions == {"AAPL": Decimal(10)}


async def test_in_a_replay_only_the_sessions_own_signals_run_the_sweep(engine: AsyncEngine,
                                                                      handlers: FirewallHandlers) -> None:
    """A replay (``CLOCK=event``) of an 11:00 session, run at 15:50 New York time: the router stamps its
    snapshots with the wall clock and a venue its fills, so neither is the session's time; neither
    flattens. The session's own signal at 15:45:30 does."""
    session = datetime(2026, 2, 12, 11, 0, tzinfo=NEW_YORK).astimezone(UTC)
    wall = datetime(2026, 12, 7, 15, 50, tzinfo=NEW_YORK).astimezone(UTC)  # a Monday, in the flatten window
    await open_market(engine, handlers, at=session)
    held = [Position(symbol="AAPL", qty=Decimal(12), market_value=Decimal(1200))]
    assert await feed(engine, handlers.on_snapshot, snapshot(100_000, wall, positions=held)) == []
    fill = fill_of("manual-1", "AAPL", 3, "c").model_copy(update={"timestamp": wall + timedelta(seconds=1)})
    assert await feed(engine, handlers.on_trade_update, fill) == []
    state = await account_state(engine)
    assert state is not None and state.positions["AAPL"] > 0 and state.open_orders == ()

    flatten_at = datetime(2026, 2, 12, 15, 45, 30, tzinfo=NEW_YORK).astimezone(UTC)
    out = await feed(engine, handlers.on_signal, TaSignal(symbol="AAPL", event_ts=flatten_at, seq=2,
                                                         price=Decimal(101)))
    assert [o.message.reason_codes for o in out if o.spec is topics.RISK_VERDICTS] == [[r.SCHEDULED_FLATTEN]]


async def test_a_replay_measures_each_session_days_loss_from_that_days_start(engine: AsyncEngine,
                                                                           handlers: FirewallHandlers) -> None:
    """Two session days replayed within a minute of wall-clock time (paper snapshots, no last_equity):
    the second day's loss counts from its own start (105,000), not from the replay's first snapshot
    (100,000, from which it would be a gain), and latches the daily stop."""
    day1 = datetime(2026, 2, 12, 10, tzinfo=NEW_YORK).astimezone(UTC)
    day2 = day1 + timedelta(days=1)
    wall = datetime.now(UTC)

    def paper(equity: int, second: int) -> AccountSnapshot:
        return snapshot(equity, wall + timedelta(seconds=second)).model_copy(update={"last_equity": None})

    async def decide(decision_id: str, at: datetime) -> list[str]:
        await feed(engine, handlers.on_signal, TaSignal(symbol="AAPL", event_ts=at - timedelta(seconds=1),
                                                        seq=int(at.timestamp()), price=Decimal(100)))
        out = await feed(engine, handlers.on_decision, decision(decision_id=decision_id, now=at))
        return out[0].message.reason_codes

    await open_market(engine, handlers, at=day1)
    await feed(engine, handlers.on_snapshot, paper(100_000, 0))
    assert r.DAILY_LOSS_STOP not in await decide("day-1", day1)
    await feed(engine, handlers.on_snapshot, paper(105_000, 1))
    assert r.DAILY_LOSS_STOP not in await decide("day-2", day2)
    await feed(engine, handlers.on_snapshot, paper(103_000, 2))
    assert r.DAILY_LOSS_STOP in await decide("day-2-later", day2 + timedelta(minutes=1))
