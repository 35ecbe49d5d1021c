"""The bar and quote handlers with the store faked: what a batch pass, a rollback and a rerun leave behind."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import MarketBar, MarketQuote
from torghut_runtime import Inbound
from torghut_runtime.commit_hooks import CommitHooks
from torghut_ta.adapters import store
from torghut_ta.adapters.committed_states import CommittedStates
from torghut_ta.domain.series import Rules, SeriesState
from torghut_ta.handlers import BarHandler, QuoteHandler
from torghut_ta.metrics import TaMetrics

D = Decimal
OPEN = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)


class FakeStore:
    """Committed rows as (revision, pickle), as Postgres would hold them (every write a snapshot);
    ``load_series`` reads them afresh unless the caller holds the row's revision."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.quotes: dict[str, MarketQuote] = {}
        self.loads = 0

    async def load_series(self, conn: Any, symbol: str, window: str, held: Any = None) -> store.Loaded:
        self.loads += 1
        row = self.rows.get((symbol, window))
        if row is None:
            return store.Loaded(SeriesState(symbol, window), self.quotes.get(symbol))
        if held is not None and held[0] == row[0]:
            return store.Loaded(held[1], self.quotes.get(symbol), row[0], held[1].seq, source="kept")
        state = pickle.loads(row[1])
        return store.Loaded(state, self.quotes.get(symbol), row[0], state.seq, source="stored")

    async def save_series(self, conn: Any, writes: list[store.SeriesWrite]) -> None:
        for w in writes:
            self.rows[(w.state.symbol, w.state.window)] = (w.revision, pickle.dumps(w.state))

    async def put_quotes(self, conn: Any, quotes: list[MarketQuote]) -> None:
        self.quotes.update({q.symbol: q for q in quotes})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore()
    for name in ("load_series", "save_series", "put_quotes"):
        monkeypatch.setattr(store, name, getattr(fake, name))
    return fake


def inbound(payload: Any, spec: Any) -> Inbound[Any]:
    return Inbound(payload=payload, headers=MessageHeaders.new(spec.name), topic=spec.name, partition=0, offset=0,
                   key=payload.symbol, timestamp=OPEN)


def bar(minute: int) -> Inbound[MarketBar]:
    close = D(100 + minute % 5)
    return inbound(MarketBar(symbol="AAPL", start=OPEN + timedelta(minutes=minute), open=close, high=close + 1,
                             low=close - 1, close=close, volume=D(10)), topics.MARKET_BARS)


async def test_a_rolled_back_pass_leaves_nothing_and_its_rerun_gives_the_same_signals(fake: FakeStore) -> None:
    metrics = TaMetrics(CollectorRegistry())
    handler = BarHandler(Rules(), metrics)
    first = [out.message for i in range(3) for out in await handler(bar(i), conn=None)]  # type: ignore[arg-type]
    handler.discard()  # the transaction rolled back before flush
    assert fake.rows == {}
    again = [out.message for i in range(3) for out in await handler(bar(i), conn=None)]  # type: ignore[arg-type]
    await handler.flush(conn=None)  # type: ignore[arg-type]
    assert again == first and [s.seq for s in first] == [1, 2, 3]  # type: ignore[attr-defined]
    assert fake.loads == 2, "one load per series per transaction"
    outs = await handler(bar(2), conn=None)  # type: ignore[arg-type]
    assert outs == [], "the committed state knows bar 2: a duplicate"
    assert metrics.bars_skipped.labels(reason="duplicate_bar")._value.get() == 1


async def committed(handler: BarHandler, minutes: range) -> list[Any]:
    """The bars of ``minutes`` in one transaction that commits (its commit hooks run)."""
    hooks = CommitHooks()
    with hooks:
        signals = [out.message for i in minutes for out in await handler(bar(i), conn=None)]  # type: ignore[arg-type]
        await handler.flush(conn=None)  # type: ignore[arg-type]
    hooks.run()
    return signals


def loads(metrics: TaMetrics) -> dict[str, float]:
    return {source: metrics.series_loads.labels(source=source)._value.get() for source in ("kept", "stored", "new")}


async def test_a_committed_state_is_used_again_while_its_row_is_at_the_revision_committed(fake: FakeStore) -> None:
    metrics = TaMetrics(CollectorRegistry())
    handler = BarHandler(Rules(), metrics, CommittedStates(10))
    signals = await committed(handler, range(0, 3)) + await committed(handler, range(3, 6))
    assert loads(metrics) == {"kept": 1, "stored": 0, "new": 1}
    assert fake.rows[("AAPL", "PT1M")][0] == 2, "one write per transaction"

    other = BarHandler(Rules(), TaMetrics(CollectorRegistry()), CommittedStates(10))  # another replica moves it on
    signals += await committed(other, range(6, 8))
    signals += await committed(handler, range(8, 10))
    assert loads(metrics) == {"kept": 1, "stored": 1, "new": 1}, "the row moved on: read, not the kept state"

    alone = BarHandler(Rules(), TaMetrics(CollectorRegistry()))  # keeps nothing
    fake.rows.clear()
    assert await committed(alone, range(0, 10)) == signals


async def test_a_state_a_rolled_back_transaction_changed_is_not_kept(fake: FakeStore) -> None:
    metrics = TaMetrics(CollectorRegistry())
    handler = BarHandler(Rules(), metrics, CommittedStates(10))
    await committed(handler, range(0, 3))
    before = dict(fake.rows)
    with CommitHooks():  # the commit fails after flush: its hooks never run ...
        await handler(bar(3), conn=None)  # type: ignore[arg-type]
        await handler.flush(conn=None)  # type: ignore[arg-type]
    fake.rows = before  # ... and Postgres keeps revision 1
    assert len(handler.committed) == 0, "checked out by the failed transaction, never put back"
    assert [s.seq for s in await committed(handler, range(3, 5))] == [4, 5]  # type: ignore[attr-defined]
    assert loads(metrics)["stored"] == 1


def test_committed_states_drop_the_least_recently_committed_beyond_capacity() -> None:
    kept = CommittedStates(2)
    states = {symbol: SeriesState(symbol, "PT1M") for symbol in "ABC"}
    kept.put_back([(("A", "PT1M"), 1, states["A"]), (("B", "PT1M"), 1, states["B"])])
    kept.put_back([(("A", "PT1M"), 2, states["A"]), (("C", "PT1M"), 1, states["C"])])
    assert kept.check_out([("A", "PT1M"), ("B", "PT1M"), ("C", "PT1M")]) == {
        ("A", "PT1M"): (2, states["A"]), ("C", "PT1M"): (1, states["C"])}
    assert len(kept) == 0, "checked out: a transaction owns them"
    none = CommittedStates(0)
    none.put_back([(("A", "PT1M"), 1, states["A"])])
    assert len(none) == 0


async def test_the_quote_handler_keeps_the_latest_quote_of_a_batch(fake: FakeStore) -> None:
    handler = QuoteHandler(TaMetrics(CollectorRegistry()))
    quotes = [MarketQuote(symbol="AAPL", ts=OPEN + timedelta(seconds=s), bid=D(s + 1), ask=D(s + 2), bid_size=D(1),
                          ask_size=D(1)) for s in (5, 9, 7)]
    for q in quotes:
        await handler(inbound(q, topics.MARKET_QUOTES), conn=None)  # type: ignore[arg-type]
    await handler.flush(conn=None)  # type: ignore[arg-type]
    assert fake.quotes["AAPL"] == quotes[1], "the latest by quote time, not by arrival"


def test_series_moving_in_step_take_turns_to_snapshot() -> None:
    every = store.SNAPSHOT_EVERY
    due = [[store.SeriesWrite(SeriesState(f"S{i:03d}", "PT1M", seq=seq), 1, seq - 1, []).snapshot_due()
            for seq in range(1, 4 * every + 1)] for i in range(500)]
    assert all(sum(series) == 4 for series in due), "each series once every SNAPSHOT_EVERY bars"
    per_bar = [sum(series[n] for series in due) for n in range(4 * every)]
    assert max(per_bar) < 3 * 500 / every, f"spread over the bars, not all at once: {per_bar}"
    assert store.SeriesWrite(SeriesState("A", "PT1M", seq=1), 1, None, []).snapshot_due(), "no snapshot yet"
