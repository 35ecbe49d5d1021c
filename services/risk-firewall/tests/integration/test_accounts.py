"""Several accounts in one firewall (``TORGHUT_ACCOUNTS``), against a real Postgres.

A group commit's decisions of two accounts are each judged on their own account's state; a group
holding several accounts locks them in account order before its first record, so two groups never
wait on each other crosswise; the end-of-day sweep closes every account's positions.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.enums import Adapter, OrderStatus, Side, TradeEvent, VerdictOutcome
from torghut_contracts.models import AccountSnapshot, OrderState, Position, TaSignal, TradeUpdate
from torghut_risk_firewall.adapters import store
from torghut_risk_firewall.adapters.handlers import FirewallHandlers
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.domain.limits import RiskLimits
from torghut_risk_firewall.domain.windows import NEW_YORK
from torghut_risk_firewall.metrics import FirewallMetrics
from torghut_risk_firewall.testing import NOW, account_state, decision
from torghut_runtime.testing import eventually

from .handler_calls import feed, inbound, open_market
from .test_handlers_locking import someone_waits_for_a_lock

A, B = "paper-a", "paper-b"


@pytest.fixture
def two_accounts() -> FirewallHandlers:
    return FirewallHandlers((A, B), RiskLimits(cooldown_s=Decimal(0), max_orders_per_second=1), "event",
                            FirewallMetrics(CollectorRegistry()))


async def feed_group(engine: AsyncEngine, handler: Any, payloads: Sequence[Any]) -> list[Any]:
    """A group commit as the runtime runs it: prepare, every record, flush, in one transaction."""
    inbounds = [inbound(payload) for payload in payloads]
    async with engine.begin() as conn:
        await handler.prepare(conn, inbounds)
        out = [output for item in inbounds for output in await handler(item, conn)]
        flush = getattr(handler, "flush", None)
        if flush is not None:
            await flush(conn)
        return out


def snapshot_of(account: str, at: datetime, positions: Sequence[Position] = ()) -> AccountSnapshot:
    return AccountSnapshot(snapshot_id=f"s-{account}-{at.isoformat()}", account=account, venue=Adapter.PAPER,
                           as_of=at, equity=Decimal(100_000), last_equity=Decimal(100_000), cash=Decimal(0),
                           buying_power=Decimal(200_000), positions=list(positions))


def fill_of(account: str, fingerprint: str) -> TradeUpdate:
    return TradeUpdate(fingerprint=fingerprint * 64, account=account, venue=Adapter.PAPER, event=TradeEvent.FILL,
                       timestamp=NOW, order=OrderState(client_order_id=f"manual-{account}", symbol="AAPL",
                                                       side=Side.BUY, qty=Decimal(5), filled_qty=Decimal(5),
                                                       status=OrderStatus.FILLED),
                       fill_qty=Decimal(5), fill_price=Decimal(100))


async def test_a_group_of_two_accounts_judges_each_decision_on_its_own_accounts_state(
        engine: AsyncEngine, two_accounts: FirewallHandlers) -> None:
    await open_market(engine, two_accounts)
    await feed_group(engine, two_accounts.on_snapshot, [snapshot_of(A, NOW - timedelta(seconds=5)),
                                                        snapshot_of(B, NOW - timedelta(seconds=5))])
    out = await feed_group(engine, two_accounts.on_decision, [
        decision(account=A, decision_id="a-1", qty=10), decision(account=B, decision_id="b-1", qty=20),
        decision(account=A, decision_id="a-2", qty=30), decision(account="paper-z", decision_id="z-1")])
    verdicts = {o.message.decision_id: o.message for o in out if o.spec is topics.RISK_VERDICTS}
    assert verdicts["a-1"].outcome is VerdictOutcome.APPROVE and verdicts["b-1"].outcome is VerdictOutcome.APPROVE
    assert verdicts["a-2"].reason_codes == [r.RATE_LIMIT_PER_SECOND], "a-1's approval counts against A only"
    assert verdicts["z-1"].reason_codes == [r.ACCOUNT_NOT_MANAGED]
    state_a, state_b = await account_state(engine, A), await account_state(engine, B)
    assert state_a is not None and [o.remaining_qty for o in state_a.open_orders] == [10]
    assert state_b is not None and [o.remaining_qty for o in state_b.open_orders] == [20]
    async with engine.connect() as conn:
        stored = {tuple(row) for row in await conn.execute(sa.text("SELECT account, decision_id FROM verdicts"))}
    assert stored == {(A, "a-1"), (B, "b-1"), (A, "a-2"), ("paper-z", "z-1")}

    again = await feed_group(engine, two_accounts.on_decision, [decision(account=B, decision_id="b-1", qty=20),
                                                                decision(account=A, decision_id="a-1", qty=10)])
    assert [o.message for o in again if o.spec is topics.RISK_VERDICTS] == [verdicts["b-1"], verdicts["a-1"]]
    state_a = await account_state(engine, A)
    assert state_a is not None and len(state_a.open_orders) == 1, "a replayed group reserves nothing twice"


async def row_is_locked(engine: AsyncEngine, account: str) -> bool:
    async with engine.connect() as conn:
        try:
            await conn.execute(sa.text("SELECT 1 FROM accounts WHERE account = :a FOR UPDATE NOWAIT"), {"a": account})
        except DBAPIError:
            return True
        return False


@pytest.mark.parametrize("handler", ["on_decision", "on_trade_update", "on_snapshot"])
async def test_a_group_of_two_accounts_locks_them_in_account_order_before_its_first_record(
        engine: AsyncEngine, two_accounts: FirewallHandlers, handler: str) -> None:
    """B's record comes first, but the group waits for A (held elsewhere) before it takes B: had it locked
    B first, a group holding A and waiting for B would wait for it for ever (Postgres aborts one)."""
    await open_market(engine, two_accounts)
    group = {"on_decision": [decision(account=B, decision_id="b-1"), decision(account=A, decision_id="a-1")],
             "on_trade_update": [fill_of(B, "b"), fill_of(A, "a")],
             "on_snapshot": [snapshot_of(B, NOW), snapshot_of(A, NOW)]}[handler]
    async with engine.begin() as conn:
        await store.create_account(conn, A)
        await store.create_account(conn, B)
    async with engine.connect() as holder:
        transaction = await holder.begin()
        await store.lock_account(holder, A)
        waiting = asyncio.create_task(feed_group(engine, getattr(two_accounts, handler), group))
        await eventually(functools.partial(someone_waits_for_a_lock, engine), what="the group to wait for A")
        assert not await row_is_locked(engine, B), "B was locked before A"
        await transaction.commit()
    await waiting
    assert not await row_is_locked(engine, A) and not await row_is_locked(engine, B)


async def test_the_flatten_sweep_closes_every_managed_accounts_positions(engine: AsyncEngine,
                                                                          two_accounts: FirewallHandlers) -> None:
    at = datetime(2026, 2, 12, 15, 45, 30, tzinfo=NEW_YORK).astimezone(UTC)
    await open_market(engine, two_accounts, at=at - timedelta(minutes=20))
    await feed(engine, two_accounts.on_snapshot, snapshot_of(A, at - timedelta(minutes=20), positions=[
        Position(symbol="AAPL", qty=Decimal(12), market_value=Decimal(1200))]))
    await feed(engine, two_accounts.on_snapshot, snapshot_of(B, at - timedelta(minutes=20), positions=[
        Position(symbol="AAPL", qty=Decimal(7), market_value=Decimal(700))]))
    out = await feed(engine, two_accounts.on_signal, TaSignal(symbol="AAPL", event_ts=at, seq=3, price=Decimal(101)))
    orders = [o.message for o in out if o.spec is topics.ORDERS_APPROVED]
    assert [(o.account, o.side, o.qty) for o in orders] == [(A, Side.SELL, Decimal(12)), (B, Side.SELL, Decimal(7))]
