"""The Kafka handler's buffering, against the real Postgres, driven the way the runtime drives it.

The runtime calls the handler once per record and its ``flush`` once per transaction (a batch), or
after every record inside a savepoint on its careful pass, and ``discard`` after a rollback. These
tests play those three shapes directly (no broker: the point is what reaches Postgres, counted
statement by statement) and check that a batch decides exactly what one-by-one processing decides,
with a bounded number of statements, and that a decision made on a state or watermark another
writer has since changed never commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import TaSignal
from torghut_runtime import Inbound
from torghut_runtime.db import create_engine, migrate
from torghut_signal_trigger.adapters.handlers import SignalHandler, StaleDecision
from torghut_signal_trigger.adapters.metrics import TriggerMetrics
from torghut_signal_trigger.app import MIGRATIONS
from torghut_strategies.book import parse_strategy_book
from torghut_strategies.engine import EngineConfig
from torghut_strategies.testing import T0, make_signal

D = Decimal
BOOK = parse_strategy_book({"version": 1, "strategies": [
    {"id": "macd-v1", "type": "macd_cross", "universe": "*", "cooldown_s": 0},
    {"id": "rsi-v1", "type": "rsi_reversion", "universe": ["NVDA"], "cooldown_s": 0},
]}, origin="test")
CONFIG = EngineConfig(strategies=BOOK)
WATERMARK = "kafka:test.ta.signals"


@dataclass
class StatementLog:
    """Statements sent to Postgres while ``recording``, via the engine's ``before_cursor_execute``."""

    recording: bool = False
    statements: list[str] = field(default_factory=list)

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                 executemany: bool) -> None:
        if self.recording:
            self.statements.append(" ".join(statement.split()))

    def touching(self, table: str, verb: str) -> list[str]:
        return [s for s in self.statements if table in s and s.upper().startswith(verb)]


@pytest.fixture
async def engines(fresh_database_url: str) -> AsyncIterator[dict[str, AsyncEngine]]:
    """Two schemas with signal-trigger's tables: one per way of processing the same signals."""
    made: dict[str, AsyncEngine] = {}
    try:
        for schema in ("one_by_one", "batched"):
            made[schema] = create_engine(fresh_database_url, schema, pool_size=2)
            await migrate(made[schema], schema, MIGRATIONS)
        yield made
    finally:
        for engine in made.values():
            await engine.dispose()


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    """One schema with signal-trigger's tables, shared by the instances of a test."""
    made = create_engine(fresh_database_url, "shared", pool_size=2)
    try:
        await migrate(made, "shared", MIGRATIONS)
        yield made
    finally:
        await made.dispose()


def handler() -> SignalHandler:
    return SignalHandler(CONFIG, TriggerMetrics(CollectorRegistry()), replay=True, watermark_name=WATERMARK)


def inbound(signal: TaSignal, offset: int) -> Inbound[TaSignal]:
    return Inbound(payload=signal, headers=MessageHeaders.new(topics.TA_SIGNALS.name), topic="ta", partition=0,
                   offset=offset, key=signal.symbol, timestamp=signal.event_ts)


async def one_by_one(engine: AsyncEngine, target: SignalHandler, signals: Sequence[TaSignal]) -> list[str]:
    """A transaction and a flush per signal: what the runtime does without batching."""
    out: list[str] = []
    for offset, signal in enumerate(signals):
        async with engine.begin() as conn:
            out += [o.message.request_id for o in await target(inbound(signal, offset), conn)]
            await target.flush(conn)
    return out


async def batch(engine: AsyncEngine, target: SignalHandler, signals: Sequence[TaSignal]) -> list[str]:
    """One transaction and one flush for all signals: the runtime's optimistic pass over a batch."""
    out: list[str] = []
    try:
        async with engine.begin() as conn:
            for offset, signal in enumerate(signals):
                out += [o.message.request_id for o in await target(inbound(signal, offset), conn)]
            await target.flush(conn)
    except BaseException:
        target.discard()
        raise
    return out


async def careful(engine: AsyncEngine, target: SignalHandler, signals: Sequence[TaSignal]) -> list[str]:
    """One transaction, a savepoint and a flush per signal: the runtime's careful pass."""
    out: list[str] = []
    async with engine.begin() as conn:
        for offset, signal in enumerate(signals):
            async with conn.begin_nested():
                out += [o.message.request_id for o in await target(inbound(signal, offset), conn)]
                await target.flush(conn)
    return out


async def stored(engine: AsyncEngine) -> tuple[dict[tuple[str, str], Any], Any]:
    async with engine.connect() as conn:
        states = {(r.symbol, r.stream): r.state for r in await conn.execute(
            sa.text("SELECT symbol, stream, state FROM symbol_state"))}
        watermark = (await conn.execute(sa.text("SELECT watermark FROM stream_watermark"))).scalar_one()
    return states, watermark


def crossing_signals(symbols: Sequence[str], seqs: range) -> list[TaSignal]:
    """Interleaved symbols; MACD flips every 3 seqs, RSI dips below 30 now and then, some noise."""
    out: list[TaSignal] = []
    for seq in seqs:
        for index, symbol in enumerate(symbols):
            at = T0 + timedelta(seconds=seq)
            macd = D("0.4") if (seq + index) // 3 % 2 else D("-0.4")
            rsi = D(25) if seq % 7 == 0 else D(50)
            if seq % 11 == 0:
                out.append(make_signal(seq, symbol=symbol, at=at, macd=macd, rsi14=rsi, bid=D(99), ask=D(101)))
            else:
                out.append(make_signal(seq, symbol=symbol, at=at, macd=macd, rsi14=rsi))
            if seq % 5 == 0:
                out.append(make_signal(seq, symbol=symbol, at=at, macd=macd, rsi14=rsi))  # a duplicate
    return out


async def test_a_batch_decides_like_one_by_one_with_one_state_write_per_transaction(
        engines: dict[str, AsyncEngine]) -> None:
    symbols = ("AAPL", "NVDA", "MSFT")
    first, second = crossing_signals(symbols, range(1, 41)), crossing_signals(symbols, range(41, 81))
    log = StatementLog()
    sa.event.listen(engines["batched"].sync_engine, "before_cursor_execute", log)

    reference = handler()
    expected = await one_by_one(engines["one_by_one"], reference, first + second)
    batched = handler()
    log.recording = True
    got_first = await batch(engines["batched"], batched, first)
    cold = list(log.statements)
    log.statements.clear()
    got_second = await batch(engines["batched"], batched, second)
    log.recording = False

    assert len(expected) > 20, "the script fires plenty of triggers"
    assert got_first + got_second == expected, "same triggers, same order"
    assert await stored(engines["batched"]) == await stored(engines["one_by_one"]), "same committed state"
    # A cold cache reads each symbol and the watermark once; then every batch is one statement that
    # writes the states and the watermark together.
    cold_log = StatementLog(statements=cold)
    assert len(cold_log.touching("symbol_state", "SELECT")) == len(symbols)
    assert len(cold_log.touching("stream_watermark", "SELECT")) == 1
    [write] = cold_log.touching("symbol_state", "WITH")
    assert "stream_watermark" in write
    assert len(cold) == len(symbols) + 2, cold
    [write] = log.statements
    assert "symbol_state" in write and "stream_watermark" in write
    assert len(first) == len(second) > 100, "the bound does not grow with the batch"


@pytest.mark.parametrize("moved", ["state", "watermark"])
async def test_a_decision_on_a_state_another_writer_moved_never_commits(engine: AsyncEngine, moved: str) -> None:
    ours, theirs = handler(), handler()
    # We learn AAPL below its signal line (and MSFT, whose later event time sets the watermark).
    late = make_signal(1, symbol="MSFT", at=T0 + timedelta(seconds=100))
    assert await batch(engine, ours, [make_signal(1, macd=D(-1)), late]) == []
    cross = make_signal(2, macd=D(1), at=T0 + timedelta(seconds=2 if moved == "state" else 200))
    [fired] = await batch(engine, theirs, [cross])  # another instance takes the cross first

    retried = [cross, make_signal(3, macd=D(-1), at=cross.event_ts + timedelta(seconds=1))]
    with pytest.raises(StaleDecision, match=moved):
        await batch(engine, ours, retried)  # decided on our stale memory: the buy again, then a sell

    again = await careful(engine, ours, retried)  # what the runtime does next
    states, _ = await stored(engine)
    assert len(again) == 1 and again[0] != fired, "the cross is not fired twice; the sell is"
    assert states[("AAPL", "")]["last_seq"] == 3
    assert await batch(engine, ours, [make_signal(4, macd=D(-1), at=cross.event_ts + timedelta(seconds=2))]) == []


async def test_a_rollback_after_flush_leaves_no_decision_behind(engine: AsyncEngine) -> None:
    ours = handler()
    assert await batch(engine, ours, [make_signal(1, macd=D(-1))]) == []
    cross = make_signal(2, macd=D(1))
    with pytest.raises(ConnectionError):
        async with engine.begin() as conn:
            assert len(await ours(inbound(cross, 1), conn)) == 1
            await ours.flush(conn)
            raise ConnectionError("the database went away before the commit")
    ours.discard()  # as the runtime does
    assert len(await batch(engine, ours, [cross])) == 1, "the retried cross fires: it is not a duplicate"


async def test_a_first_watermark_another_instance_wrote_meanwhile_fails_the_batch(engine: AsyncEngine) -> None:
    ours, theirs = handler(), handler()
    async with engine.connect() as conn:
        async with conn.begin():
            await ours(inbound(make_signal(1, symbol="MSFT"), 0), conn)  # no watermark row yet: we assume none
            assert await batch(engine, theirs, [make_signal(1, at=T0 + timedelta(seconds=50))]) == []
            with pytest.raises(StaleDecision, match="watermark"):
                await ours.flush(conn)
            await conn.rollback()
    _, watermark = await stored(engine)
    assert watermark == T0 + timedelta(seconds=50), "theirs stands"
    assert await batch(engine, ours, [make_signal(1, symbol="MSFT")]) == []
    states, watermark = await stored(engine)
    assert ("MSFT", "") in states and watermark == T0 + timedelta(seconds=50)
