"""Postgres: each bar series' state and each symbol's latest quote.

Every function takes the caller's connection, so a series' state commits in the same transaction
as the tracking records of the bars that changed it: a restart resumes exactly where the last
commit left off, and a redelivered bar (its tracking record already there) changes nothing twice.

States are pickled ``SeriesState``s (this service alone writes and reads them). ``version`` names
their format: a row of another version is not unpickled, the series starts afresh (keeping its
``seq`` and ``last_start``, so sequence numbers and the late-bar rule carry on) and warms up again.
Bump ``STATE_VERSION`` whenever ``SeriesState``, its parts, or the talipp version changes.

The statements are built once, with named binds; the tables are the classes of :mod:`.tables`.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import MarketQuote

from ..domain.series import SeriesState
from .tables import LatestQuoteRow, SeriesStateRow

STATE_VERSION = 1

series_state: sa.Table = SeriesStateRow.__table__  # type: ignore[attr-defined]
latest_quote: sa.Table = LatestQuoteRow.__table__  # type: ignore[attr-defined]

#: The series' state row-locked (one writer per series until commit) and the symbol's latest quote,
#: in one round trip; a row of each side may be missing.
_LOAD = sa.text("""
WITH s AS (
    SELECT version, seq, last_start, state FROM series_state
    WHERE symbol = :symbol AND bar_window = :bar_window FOR UPDATE
)
SELECT s.version, s.seq, s.last_start, s.state,
       q.ts AS quote_ts, q.bid, q.ask, q.bid_size, q.ask_size, q.source AS quote_source
FROM (SELECT 1) AS one LEFT JOIN s ON true LEFT JOIN latest_quote AS q ON q.symbol = :symbol
""")

#: Many series at once (a batch's): the states row-locked in key order, so two writers never deadlock.
_LOAD_MANY = sa.text("""
WITH k AS (
    SELECT * FROM unnest(CAST(:symbols AS text[]), CAST(:windows AS text[])) AS k(symbol, bar_window)
), s AS (
    SELECT symbol, bar_window, version, seq, last_start, state FROM series_state
    WHERE (symbol, bar_window) IN (SELECT symbol, bar_window FROM k)
    ORDER BY symbol, bar_window FOR UPDATE
)
SELECT k.symbol, k.bar_window, s.version, s.seq, s.last_start, s.state,
       q.ts AS quote_ts, q.bid, q.ask, q.bid_size, q.ask_size, q.source AS quote_source
FROM k LEFT JOIN s USING (symbol, bar_window) LEFT JOIN latest_quote AS q ON q.symbol = k.symbol
""")

_insert_state = postgresql.insert(series_state)
_SAVE = _insert_state.on_conflict_do_update(
    index_elements=[series_state.c.symbol, series_state.c.bar_window],
    set_={name: _insert_state.excluded[name] for name in ("version", "seq", "last_start", "state", "updated_at")})

_insert_quote = postgresql.insert(latest_quote)
#: Keep the quote with the latest ts: one older than the stored one (reordered upstream) changes nothing.
_PUT_QUOTE = _insert_quote.on_conflict_do_update(
    index_elements=[latest_quote.c.symbol],
    set_={name: _insert_quote.excluded[name]
          for name in ("ts", "bid", "ask", "bid_size", "ask_size", "source", "updated_at")},
    where=latest_quote.c.ts <= _insert_quote.excluded.ts)


@dataclass
class Loaded:
    """A series as stored (or new), the symbol's latest quote, and whether a stale format was dropped."""

    state: SeriesState
    quote: MarketQuote | None
    reset: bool = False


async def load_series(conn: AsyncConnection, symbol: str, window: str) -> Loaded:
    """The series' state, locked until the transaction ends, and the symbol's latest quote."""
    return _loaded(symbol, window, (await conn.execute(_LOAD, {"symbol": symbol, "bar_window": window})).one())


async def load_many(conn: AsyncConnection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Loaded]:
    """:func:`load_series` for many (symbol, window) keys in one round trip."""
    ordered = sorted(set(keys))
    rows = await conn.execute(_LOAD_MANY, {"symbols": [k[0] for k in ordered], "windows": [k[1] for k in ordered]})
    return {(row.symbol, row.bar_window): _loaded(row.symbol, row.bar_window, row) for row in rows}


def _loaded(symbol: str, window: str, row: sa.Row[Any]) -> Loaded:
    quote = None
    if row.quote_ts is not None:
        quote = MarketQuote(symbol=symbol, ts=row.quote_ts, bid=row.bid, ask=row.ask, bid_size=row.bid_size,
                            ask_size=row.ask_size, source=row.quote_source)
    if row.version is None:
        return Loaded(SeriesState(symbol, window), quote)
    if row.version == STATE_VERSION:
        state = pickle.loads(row.state)
        if isinstance(state, SeriesState):
            return Loaded(state, quote)
    return Loaded(SeriesState(symbol, window, seq=row.seq, last_start=row.last_start), quote, reset=True)


async def save_series(conn: AsyncConnection, states: Sequence[SeriesState]) -> None:
    """Upsert the states (their rows are locked by :func:`load_series` in this transaction)."""
    if not states:
        return
    now = datetime.now(UTC)
    await conn.execute(_SAVE, [
        {"symbol": s.symbol, "bar_window": s.window, "version": STATE_VERSION, "seq": s.seq,
         "last_start": s.last_start, "state": pickle.dumps(s, protocol=pickle.HIGHEST_PROTOCOL), "updated_at": now}
        for s in states])


async def put_quotes(conn: AsyncConnection, quotes: Sequence[MarketQuote]) -> None:
    """Store each symbol's quote unless the stored one is later (one quote per symbol per call)."""
    if not quotes:
        return
    now = datetime.now(UTC)
    await conn.execute(_PUT_QUOTE, [
        {"symbol": q.symbol, "ts": q.ts, "bid": q.bid, "ask": q.ask, "bid_size": q.bid_size,
         "ask_size": q.ask_size, "source": q.source, "updated_at": now}
        for q in sorted(quotes, key=lambda q: q.symbol)])  # sorted: two writers lock rows in the same order
