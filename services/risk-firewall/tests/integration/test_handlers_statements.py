"""Handlers against a real Postgres: what they write, and in how many statements.

A batch of signals writes each symbol's newest mark once, at its end; a decision is judged in two
statements on every mark it needs; a group of decisions is judged on one locked account and written
once, and a rolled-back group leaves nothing held; a decision without a mark waits for the signal
lane before it is vetoed.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts.enums import VerdictOutcome
from torghut_contracts.models import Position, TaSignal
from torghut_risk_firewall.adapters import store
from torghut_risk_firewall.adapters.handlers import FirewallHandlers
from torghut_risk_firewall.domain import reasons as r
from torghut_risk_firewall.testing import NOW, account_state, decision

from .handler_calls import feed, inbound, open_market, snapshot


class StatementLog:
    """Statements sent to Postgres while recording (the engine's ``before_cursor_execute``)."""

    def __init__(self) -> None:
        self.recording = False
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.recording:
            self.statements.append(" ".join(statement.split()))


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
