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
from torghut_ta.adapters import store
from torghut_ta.domain.series import Rules, SeriesState
from torghut_ta.handlers import BarHandler, QuoteHandler
from torghut_ta.metrics import TaMetrics

D = Decimal
OPEN = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)


class FakeStore:
    """Committed rows as pickles, as Postgres would hold them; ``load_series`` reads them afresh."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], bytes] = {}
        self.quotes: dict[str, MarketQuote] = {}
        self.loads = 0

    async def load_series(self, conn: Any, symbol: str, window: str) -> store.Loaded:
        self.loads += 1
        row = self.rows.get((symbol, window))
        state = pickle.loads(row) if row else SeriesState(symbol, window)
        return store.Loaded(state, self.quotes.get(symbol))

    async def save_series(self, conn: Any, states: list[SeriesState]) -> None:
        for s in states:
            self.rows[(s.symbol, s.window)] = pickle.dumps(s)

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


async def test_the_quote_handler_keeps_the_latest_quote_of_a_batch(fake: FakeStore) -> None:
    handler = QuoteHandler(TaMetrics(CollectorRegistry()))
    quotes = [MarketQuote(symbol="AAPL", ts=OPEN + timedelta(seconds=s), bid=D(s + 1), ask=D(s + 2), bid_size=D(1),
                          ask_size=D(1)) for s in (5, 9, 7)]
    for q in quotes:
        await handler(inbound(q, topics.MARKET_QUOTES), conn=None)  # type: ignore[arg-type]
    await handler.flush(conn=None)  # type: ignore[arg-type]
    assert fake.quotes["AAPL"] == quotes[1], "the latest by quote time, not by arrival"
