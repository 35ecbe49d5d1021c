"""Handlers and operator routes against a real Postgres (no broker needed for these paths).

A losing snapshot latches REDUCING, the latch survives until an operator resets it over HTTP; the
end-of-day sweep emits one closing order per position with a stored verdict; another account's
decision is vetoed and recorded.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from torghut_contracts import topics
from torghut_contracts.enums import Adapter, OrderStatus, Side, TradeEvent, TradingState, VerdictOutcome
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import (
    AccountSnapshot,
    ControlCommand,
    OrderState,
    Position,
    TaSignal,
    TradeUpdate,
)
from torghut_risk_firewall.adapters import store
from torghut_risk_firewall.adapters.handlers import FirewallHandlers, make_clock
from torghut_risk_firewall.adapters.http import operator_routes
from torghut_risk_firewall.app import MIGRATIONS
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.domain.limits import RiskLimits
from torghut_risk_firewall.domain.windows import NEW_YORK
from torghut_risk_firewall.metrics import FirewallMetrics
from torghut_risk_firewall.testing import ACCOUNT, NOW, account_state, decision
from torghut_runtime import Inbound
from torghut_runtime.db import create_engine, migrate
from torghut_runtime.testing import eventually

SCHEMA = "risk_firewall"


def inbound(payload: Any) -> Inbound[Any]:
    return Inbound(payload, MessageHeaders.new("test"), "test", 0, 0, None, datetime.now(UTC))


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(fresh_database_url, SCHEMA)
    await migrate(engine, SCHEMA, MIGRATIONS)
    yield engine
    await engine.dispose()


@pytest.fixture
def handlers() -> FirewallHandlers:
    return FirewallHandlers(ACCOUNT, RiskLimits(cooldown_s=Decimal(0)), make_clock("event"),
                            FirewallMetrics(CollectorRegistry()))


async def feed(engine: AsyncEngine, handler: Any, payload: Any) -> list[Any]:
    """One message in its own transaction, as the runtime runs it (a buffering handler's flush included)."""
    async with engine.begin() as conn:
        out = list(await handler(inbound(payload), conn))
        flush = getattr(handler, "flush", None)
        if flush is not None:
            await flush(conn)
        return out


async def someone_waits_for_a_lock(engine: AsyncEngine) -> bool:
    """A session of this test's database is blocked on a row lock (the account's, here)."""
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"))
        return bool(rows.scalar_one())


def snapshot(equity: int, at: datetime, positions: Any = ()) -> AccountSnapshot:
    return AccountSnapshot(snapshot_id=f"s-{at.isoformat()}", account=ACCOUNT, venue=Adapter.PAPER, as_of=at,
                           equity=Decimal(equity), last_equity=Decimal(100_000), cash=Decimal(0),
                           buying_power=Decimal(200_000), positions=list(positions))


async def open_market(engine: AsyncEngine, handlers: FirewallHandlers, at: datetime = NOW) -> None:
    await feed(engine, handlers.on_control, ControlCommand(command_id="open", scope="global", kill_switch=False,
                                                           trading_state=TradingState.ACTIVE, issued_at=at))
    await feed(engine, handlers.on_signal, TaSignal(symbol="AAPL", event_ts=at - timedelta(seconds=1), seq=1,
                                                    price=Decimal(100)))


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

    locked = Starlette(routes=operator_routes(engine, handlers, ACCOUNT))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=locked), base_url="http://firewall") as client:
        disabled = await client.post(f"/api/risk/v1/accounts/{ACCOUNT}/latches/reset",
                                     json={"operator": "alice", "reason": "no token configured"})
        assert disabled.status_code == 503 and "RISK_OPERATOR_TOKEN" in disabled.json()["error"]
    app = Starlette(routes=operator_routes(engine, handlers, ACCOUNT, SecretStr("s3cret")))
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


async def test_a_batch_of_signals_writes_each_symbols_newest_mark_once_at_its_end(engine: AsyncEngine,
                                                                                 handlers: FirewallHandlers) -> None:
    statements = StatementLog()
    sa.event.listen(engine.sync_engine, "before_cursor_execute", statements)
    statements.recording = True
    batch = [TaSignal(symbol="AAPL", event_ts=NOW, seq=2, price=Decimal(101)),
             TaSignal(symbol="MSFT", event_ts=NOW, seq=1, price=Decimal(300)),
             TaSignal(symbol="AAPL", event_ts=NOW - timedelta(seconds=1), seq=1, price=Decimal(99)),  # late
             TaSignal(symbol="AAPL", event_ts=NOW, seq=3, bid=Decimal(102), ask=Decimal(104))]
    async with engine.begin() as conn:  # one batch transaction, as the runtime runs it
        for signal in batch:
            assert await handlers.on_signal(inbound(signal), conn) == []
        assert statements.statements == [], "nothing is written before the batch's end"
        await handlers.on_signal.flush(conn)
    assert len(statements.statements) == 1 and statements.statements[0].startswith("INSERT INTO market_marks")
    statements.recording = False
    async with engine.connect() as conn:
        market = await store.market_for(conn, ["AAPL", "MSFT"])
    assert {s: m.price for s, m in market.marks.items()} == {"AAPL": Decimal(103), "MSFT": Decimal(300)}

    handlers.on_signal.discard()  # a rolled-back batch leaves nothing behind for the next one
    await feed(engine, handlers.on_signal, TaSignal(symbol="AAPL", event_ts=NOW - timedelta(minutes=1), seq=9,
                                                    price=Decimal(1)))
    async with engine.connect() as conn:
        assert (await store.market_for(conn, ["AAPL"])).marks["AAPL"].price == Decimal(103), "an older mark lost"


async def test_another_accounts_decision_is_vetoed_and_recorded(engine: AsyncEngine,
                                                                 handlers: FirewallHandlers) -> None:
    await open_market(engine, handlers)
    out = await feed(engine, handlers.on_decision, decision(account="someone-else", decision_id="foreign"))
    assert len(out) == 1 and out[0].message.reason_codes == [r.ACCOUNT_NOT_MANAGED]
    replay = await feed(engine, handlers.on_decision, decision(account="someone-else", decision_id="foreign"))
    assert replay[0].message == out[0].message
    assert await account_state(engine, "someone-else") is None


async def test_a_trade_update_waits_for_the_decision_holding_the_account_lock(engine: AsyncEngine,
                                                                               handlers: FirewallHandlers) -> None:
    """The decision and trade-update subscribers are separate consumers; the row lock serialises them."""
    await open_market(engine, handlers)
    await feed(engine, handlers.on_snapshot, snapshot(100_000, NOW - timedelta(seconds=5)))
    fill = TradeUpdate(fingerprint="f" * 64, account=ACCOUNT, venue=Adapter.PAPER, event=TradeEvent.FILL,
                       timestamp=NOW, order=OrderState(client_order_id="manual-1", symbol="AAPL", side=Side.BUY,
                                                       qty=Decimal(7), filled_qty=Decimal(7),
                                                       status=OrderStatus.FILLED),
                       fill_qty=Decimal(7), fill_price=Decimal(100))
    async with engine.connect() as holder:
        transaction = await holder.begin()
        held = await store.lock_account(holder, ACCOUNT)  # a decision in flight holds the row
        waiting = asyncio.create_task(feed(engine, handlers.on_trade_update, fill))
        await eventually(functools.partial(someone_waits_for_a_lock, engine),
                         what="the trade update to wait for the account lock")
        assert not waiting.done()
        await store.save_account(holder, replace(held, positions={"MSFT": Decimal(3)}))  # what it commits
        await transaction.commit()
    await waiting
    state = await account_state(engine)
    assert state is not None and state.positions == {"MSFT": Decimal(3), "AAPL": Decimal(7)}, "applied on top"


class StatementLog:
    """Statements sent to Postgres while recording (the engine's ``before_cursor_execute``)."""

    def __init__(self) -> None:
        self.recording = False
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.recording:
            self.statements.append(" ".join(statement.split()))


def fill_of(coid: str, symbol: str, qty: int, fingerprint: str) -> TradeUpdate:
    return TradeUpdate(fingerprint=fingerprint * 64, account=ACCOUNT, venue=Adapter.PAPER, event=TradeEvent.FILL,
                       timestamp=NOW, order=OrderState(client_order_id=coid, symbol=symbol, side=Side.BUY,
                                                       qty=Decimal(qty), filled_qty=Decimal(qty),
                                                       status=OrderStatus.FILLED),
                       fill_qty=Decimal(qty), fill_price=Decimal(100))


async def test_a_decision_is_judged_in_two_statements_on_every_mark_it_needs(engine: AsyncEngine,
                                                                             handlers: FirewallHandlers) -> None:
    """One statement locks the account and reads verdict, control and marks; one saves account and verdict."""
    await open_market(engine, handlers)
    await feed(engine, handlers.on_signal, TaSignal(symbol="MSFT", event_ts=NOW - timedelta(seconds=1), seq=1,
                                                    price=Decimal(400)))
    await feed(engine, handlers.on_snapshot, snapshot(100_000, NOW - timedelta(seconds=5), positions=[
        Position(symbol="MSFT", qty=Decimal(100), market_value=Decimal(40_000))]))
    log = StatementLog()
    sa.event.listen(engine.sync_engine, "before_cursor_execute", log)
    log.recording = True
    out = await feed(engine, handlers.on_decision, decision("buy", 20, decision_id="two-statements"))
    log.recording = False
    verdict = out[0].message
    assert len(log.statements) == 2, log.statements
    assert "FOR UPDATE" in log.statements[0] and "INSERT INTO verdicts" in log.statements[1]
    assert verdict.outcome is VerdictOutcome.APPROVE, verdict.reason_codes  # an unmarked MSFT would veto
    # The net cap (50,000) less 40,000 of MSFT and the 2,000 of AAPL just reserved leaves 8,000: 80 AAPL,
    # where the per-trade notional alone would allow 99.
    clamped = await feed(engine, handlers.on_decision, decision("buy", 99, decision_id="past-net-cap"))
    assert clamped[0].message.approved_qty == Decimal(80), "MSFT's mark was read"


async def test_a_decision_waiting_for_the_lock_is_judged_on_the_state_it_gets(engine: AsyncEngine,
                                                                              handlers: FirewallHandlers) -> None:
    """The state written while the decision waited (a new NVDA position) is judged with NVDA's mark."""
    await open_market(engine, handlers)
    await feed(engine, handlers.on_signal, TaSignal(symbol="NVDA", event_ts=NOW - timedelta(seconds=1), seq=1,
                                                    price=Decimal(200)))
    await feed(engine, handlers.on_snapshot, snapshot(100_000, NOW - timedelta(seconds=5)))
    async with engine.connect() as holder:
        transaction = await holder.begin()
        held = await store.lock_account(holder, ACCOUNT)
        waiting = asyncio.create_task(feed(engine, handlers.on_decision, decision("buy", 50, decision_id="waited")))
        await eventually(functools.partial(someone_waits_for_a_lock, engine),
                         what="the decision to wait for the account lock")
        await store.save_account(holder, replace(held, positions={"NVDA": Decimal(200)}))  # 40,000 of NVDA
        await transaction.commit()
    verdict = (await waiting)[0].message
    assert r.EXPOSURE_MARK_UNKNOWN not in verdict.reason_codes
    # 40,000 NVDA + 5,000 asked is inside the 50,000 net cap: approved in full, reserved on the new state.
    assert verdict.outcome is VerdictOutcome.APPROVE and verdict.approved_qty == Decimal(50), verdict.reason_codes
    state = await account_state(engine)
    assert state is not None and state.positions == {"NVDA": Decimal(200)} and len(state.open_orders) == 1


async def test_a_decision_judged_twice_at_once_is_reserved_once(engine: AsyncEngine,
                                                                handlers: FirewallHandlers) -> None:
    """Two consumers judging one decision (a rebalance): one verdict, one reservation, the same answer."""
    await open_market(engine, handlers)
    await feed(engine, handlers.on_snapshot, snapshot(100_000, NOW - timedelta(seconds=5)))
    same = decision("buy", 10, decision_id="twice")
    other = FirewallHandlers(ACCOUNT, handlers.limits, handlers.clock, handlers.metrics)  # the other consumer
    async with engine.connect() as first:
        transaction = await first.begin()
        [verdict, order] = await handlers.on_decision(inbound(same), first)  # holds the account lock
        second = asyncio.create_task(feed(engine, other.on_decision, same))
        await eventually(functools.partial(someone_waits_for_a_lock, engine),
                         what="the second judgement to wait for the account lock")
        await handlers.on_decision.flush(first)
        await transaction.commit()
    try:
        again = await second
    except sa.exc.IntegrityError:  # judged on a snapshot without the first verdict: rolled back
        other.on_decision.discard()  # as the runtime does on a rollback
        again = await feed(engine, other.on_decision, same)  # the runtime's retry
    assert [o.message for o in again] == [verdict.message, order.message]
    state = await account_state(engine)
    assert state is not None and len(state.open_orders) == 1
    async with engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM verdicts"))).scalar_one() == 1


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


async def feed_group(engine: AsyncEngine, handler: Any, payloads: list[Any]) -> list[list[Any]]:
    """Messages in one transaction, as the runtime's group commit runs them: one flush, at the end."""
    async with engine.begin() as conn:
        outs = [list(await handler(inbound(payload), conn)) for payload in payloads]
        await handler.flush(conn)
    return outs


async def test_a_group_of_decisions_is_judged_on_one_locked_account_and_written_once(
        engine: AsyncEngine, handlers: FirewallHandlers) -> None:
    """Each decision of a group sees the reservations of the ones before it, exactly as if judged one at a
    time; a decision repeated in the group gets its first verdict again; the account and the verdicts are
    written once, at the end."""
    await open_market(engine, handlers)
    await feed(engine, handlers.on_snapshot, snapshot(100_000, NOW - timedelta(seconds=5)))
    group = [decision("buy", 90, decision_id=f"g{i}") for i in range(4)] + [decision("buy", 90, decision_id="g0")]
    log = StatementLog()
    sa.event.listen(engine.sync_engine, "before_cursor_execute", log)
    log.recording = True
    outs = await feed_group(engine, handlers.on_decision, group)
    log.recording = False
    verdicts = [out[0].message for out in outs]
    # The position cap (20% of 100,000 at 100: 200 shares) binds: 90, 90, then the 20 left, then nothing.
    assert [v.approved_qty for v in verdicts[:4]] == [Decimal(90), Decimal(90), Decimal(20), Decimal(0)]
    assert verdicts[4] == verdicts[0], "the repeated decision is answered with its verdict from this group"
    locks = [s for s in log.statements if "FOR UPDATE" in s]
    writes = [s for s in log.statements if s.startswith(("UPDATE accounts", "INSERT INTO verdicts", "WITH saved"))]
    assert len(locks) == 1 and len(writes) == 2, log.statements
    state = await account_state(engine)
    assert state is not None and sum(o.remaining_qty for o in state.open_orders) == Decimal(200)
    async with engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM verdicts"))).scalar_one() == 4


async def test_a_group_rolled_back_leaves_nothing_held_for_the_next(engine: AsyncEngine,
                                                                   handlers: FirewallHandlers) -> None:
    """A rollback (another record of the group failed) discards the held account: the next group locks and
    reads it afresh, without the rolled-back reservation."""
    await open_market(engine, handlers)
    await feed(engine, handlers.on_snapshot, snapshot(100_000, NOW - timedelta(seconds=5)))
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await handlers.on_decision(inbound(decision("buy", 150, decision_id="rolled-back")), conn)
            raise RuntimeError("a later record of the group failed")
    handlers.on_decision.discard()  # as the runtime does on a rollback
    [again] = await feed_group(engine, handlers.on_decision, [decision("buy", 150, decision_id="after")])
    assert again[0].message.approved_qty == Decimal(100), "judged without the rolled-back reservation"


async def test_a_decision_without_a_mark_waits_for_the_signal_lane_before_it_is_vetoed(
        engine: AsyncEngine, handlers: FirewallHandlers) -> None:
    """A decision that outran its signal (the signal lane behind, as after a failover) is judged once the lane
    has read through; a mark still missing then vetoes, fail closed."""
    await open_market(engine, handlers)
    await feed(engine, handlers.on_snapshot, snapshot(100_000, NOW - timedelta(seconds=5)))
    waits: list[str] = []

    async def signal_lane_catches_up() -> bool:
        waits.append("MSFT")
        await feed(engine, handlers.on_signal, TaSignal(symbol="MSFT", event_ts=NOW - timedelta(seconds=1), seq=1,
                                                        price=Decimal(400)))
        return True

    handlers.marks_read_through = signal_lane_catches_up
    [judged] = await feed_group(engine, handlers.on_decision, [decision("buy", 5, "MSFT", 400, decision_id="outran")])
    assert judged[0].message.outcome is VerdictOutcome.APPROVE and waits == ["MSFT"]

    async def signal_lane_stays_behind() -> bool:
        return False

    handlers.marks_read_through = signal_lane_stays_behind
    [vetoed] = await feed_group(engine, handlers.on_decision, [decision("buy", 5, "NVDA", 400, decision_id="no-mark")])
    assert vetoed[0].message.outcome is VerdictOutcome.VETO
    assert r.MARKET_PRICE_UNKNOWN in vetoed[0].message.reason_codes
