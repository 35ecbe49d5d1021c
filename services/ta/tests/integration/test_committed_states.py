"""The kept states against a real Postgres: two "replicas" (bar handlers) taking turns at one series,
and a transaction that rolls back after its flush. Every signal must be what one uninterrupted
series computes, whichever state each load used (counted by ``torghut_ta_series_loads_total``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import MarketBar, TaSignal
from torghut_runtime import Inbound
from torghut_runtime.commit_hooks import CommitHooks
from torghut_runtime.testing import migrated_engine
from torghut_ta.adapters import store
from torghut_ta.adapters.committed_states import CommittedStates
from torghut_ta.app import MIGRATIONS
from torghut_ta.domain.series import Rules, SeriesState, apply
from torghut_ta.handlers import BarHandler
from torghut_ta.metrics import TaMetrics

D = Decimal
OPEN = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
SCHEMA = "ta"


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(fresh_database_url, SCHEMA, MIGRATIONS) as engine:
        yield engine


def bars(count: int) -> list[MarketBar]:
    out = []
    for i in range(count):
        close = D(100) + D((i * 37) % 23) / 4
        out.append(MarketBar(symbol="NVDA", start=OPEN + timedelta(minutes=i), open=close, high=close + 1,
                             low=close - 1, close=close, volume=D(1000 + i)))
    return out


def replica() -> BarHandler:
    return BarHandler(Rules(), TaMetrics(CollectorRegistry()), CommittedStates(100))


async def transaction(engine: AsyncEngine, handler: BarHandler, batch: Sequence[MarketBar], *,
                      roll_back: bool = False) -> list[TaSignal]:
    """The batch as the runtime runs it: prepare, each bar, flush, commit, then the commit hooks."""
    inbounds = [Inbound(payload=bar, headers=MessageHeaders.new(topics.MARKET_BARS.name), topic="bars",
                        partition=0, offset=0, key=bar.symbol, timestamp=bar.start) for bar in batch]
    hooks = CommitHooks()
    try:
        with hooks:
            async with engine.begin() as conn:
                await handler.prepare(conn, inbounds)
                signals = [out.message for inbound in inbounds for out in await handler(inbound, conn)]
                await handler.flush(conn)
                if roll_back:
                    raise RuntimeError("the commit fails")
    except RuntimeError:
        handler.discard()
        return []
    hooks.run()
    return signals  # type: ignore[return-value]


def loads(handler: BarHandler) -> dict[str, Any]:
    counter = handler.metrics.series_loads
    return {source: counter.labels(source=source)._value.get() for source in ("kept", "stored", "new")}


async def revision(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(sa.text("SELECT revision FROM series_state"))).scalar_one()


async def test_two_replicas_taking_turns_compute_what_one_series_does(engine: AsyncEngine) -> None:
    series = bars(60)
    a, b = replica(), replica()
    signals = []
    for n, (handler, start) in enumerate([(a, 0), (a, 10), (b, 20), (a, 30), (a, 40), (b, 50)]):
        signals += await transaction(engine, handler, series[start:start + 10])
        assert await revision(engine) == n + 1, "one write per transaction"
    state = SeriesState("NVDA", "PT1M")
    assert signals == [apply(state, bar, None, Rules()) for bar in series]
    assert loads(a) == {"kept": 2, "stored": 1, "new": 1}, "after b's turn, a reads the row b wrote"
    assert loads(b) == {"kept": 0, "stored": 2, "new": 0}


async def test_a_state_changed_by_a_transaction_that_rolled_back_is_not_used_again(engine: AsyncEngine) -> None:
    series = bars(30)
    handler = replica()
    signals = await transaction(engine, handler, series[:10])
    assert await transaction(engine, handler, series[10:20], roll_back=True) == []
    signals += await transaction(engine, handler, series[10:30])
    state = SeriesState("NVDA", "PT1M")
    assert signals == [apply(state, bar, None, Rules()) for bar in series]
    assert loads(handler) == {"kept": 0, "stored": 1, "new": 1}
    assert await revision(engine) == 2


async def test_a_series_is_a_snapshot_and_the_bars_logged_since(engine: AsyncEngine) -> None:
    """One bar a transaction: the state is pickled once per SNAPSHOT_EVERY bars, the log holds the rest."""
    handler, series = replica(), bars(2 * store.SNAPSHOT_EVERY + 5)
    snapshots = set()
    for bar in series:
        await transaction(engine, handler, [bar])
        async with engine.connect() as conn:
            row = (await conn.execute(sa.text("SELECT seq, snapshot_seq FROM series_state"))).one()
            logged = (await conn.execute(sa.text("SELECT array_agg(seq ORDER BY seq) FROM series_bars"))).scalar()
        assert (logged or []) == list(range(row.snapshot_seq + 1, row.seq + 1))
        snapshots.add(row.snapshot_seq)
    assert len(snapshots) == 3, "the first bar's, then one every SNAPSHOT_EVERY bars"
    cold = replica()  # nothing kept: the snapshot and the log replayed onto it
    after = bars(len(series) + 1)[-1]
    state = SeriesState("NVDA", "PT1M")
    for bar in series:
        apply(state, bar, None, Rules())
    assert await transaction(engine, cold, [after]) == [apply(state, after, None, Rules())]
    assert loads(cold)["stored"] == 1


async def test_a_logged_bar_that_no_longer_validates_resets_the_series_instead_of_failing_the_batch(
        engine: AsyncEngine) -> None:
    """Only a hand-edited or corrupted row can hold such a bar: the series warms up again, as for a log
    that does not line up, and the batch goes on (nothing raised, nothing dead-lettered)."""
    series = bars(5)
    await transaction(engine, replica(), series[:1])  # the first bar's snapshot
    await transaction(engine, replica(), series[1:4])  # three bars logged after it
    async with engine.begin() as conn:
        assert (await conn.execute(sa.text("UPDATE series_bars SET volume = -5 WHERE seq = 3"))).rowcount == 1
    cold = replica()
    signals = await transaction(engine, cold, series[4:])
    assert cold.metrics.state_resets._value.get() == 1
    assert loads(cold) == {"kept": 0, "stored": 0, "new": 1}
    assert len(signals) == 1 and signals[0].seq == 5, "the reset series carries on from the row's seq"
