"""Handlers against a real Postgres: the account's row lock serialises its consumers.

A trade update waits for the decision holding the lock and applies on top of what it committed; a
decision that waited for the lock is judged on the state it gets; a decision judged twice at once (a
rebalance) is reserved once.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts.enums import Adapter, OrderStatus, Side, TradeEvent, VerdictOutcome
from torghut_contracts.models import OrderState, TaSignal, TradeUpdate
from torghut_risk_firewall.adapters import store
from torghut_risk_firewall.adapters.handlers import FirewallHandlers
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.testing import ACCOUNT, NOW, account_state, decision
from torghut_runtime.testing import eventually

from .handler_calls import feed, inbound, open_market, snapshot


async def someone_waits_for_a_lock(engine: AsyncEngine) -> bool:
    """A session of this test's database is blocked on a row lock (the account's, here)."""
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"))
        return bool(rows.scalar_one())


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
    other = FirewallHandlers((ACCOUNT,), handlers.limits, handlers.clock_mode, handlers.metrics)  # the other consumer
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
