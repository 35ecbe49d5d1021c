"""Postgres: each bar series' state and each symbol's latest quote.

Every function takes the caller's connection, so a series' state commits in the same transaction
as the tracking records of the bars that changed it: a restart resumes exactly where the last
commit left off, and a redelivered bar (its tracking record already there) changes nothing twice.

States are pickled ``SeriesState``s (this service alone writes and reads them). Each write of a row
increments its ``revision``: a caller that still holds the state it committed as that revision
(:mod:`.committed_states`) passes it in, and a row still at that revision is neither sent back nor
unpickled: the held object is the state. ``version`` names
their format: a row of another version is not unpickled, the series starts afresh (keeping its
``seq`` and ``last_start``, so sequence numbers and the late-bar rule carry on) and warms up again.
Bump ``STATE_VERSION`` whenever ``SeriesState``, its parts, or the talipp version changes.

The statements are built once, with named binds; the tables are the classes of :mod:`.tables`.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import MarketQuote

from ..domain.series import SeriesState
from .committed_states import Held, SeriesKey
from .tables import LatestQuoteRow, SeriesStateRow

STATE_VERSION = 1

series_state: sa.Table = SeriesStateRow.__table__  # type: ignore[attr-defined]
latest_quote: sa.Table = LatestQuoteRow.__table__  # type: ignore[attr-defined]

#: The series' state row-locked (one writer per series until commit) and the symbol's latest quote,
#: in one round trip; a row of each side may be missing.
#: ``:held`` is the revision of the state the caller holds (-1: none); a row still at it comes back
#: without its bytes (``held`` true).
_LOAD = sa.text("""
WITH s AS (
    SELECT version, revision, seq, last_start, state FROM series_state
    WHERE symbol = :symbol AND bar_window = :bar_window FOR UPDATE
)
SELECT s.version, s.revision, s.seq, s.last_start, COALESCE(s.revision = :held, false) AS held,
       CASE WHEN s.revision = :held THEN NULL ELSE s.state END AS state,
       q.ts AS quote_ts, q.bid, q.ask, q.bid_size, q.ask_size, q.source AS quote_source
FROM (SELECT 1) AS one LEFT JOIN s ON true LEFT JOIN latest_quote AS q ON q.symbol = :symbol
""")

#: Many series at once (a batch's): the states row-locked in key order, so two writers never deadlock.
_LOAD_MANY = sa.text("""
WITH k AS (
    SELECT * FROM unnest(CAST(:symbols AS text[]), CAST(:windows AS text[]), CAST(:held AS bigint[]))
        AS k(symbol, bar_window, held)
), s AS (
    SELECT symbol, bar_window, version, revision, seq, last_start, state FROM series_state
    WHERE (symbol, bar_window) IN (SELECT symbol, bar_window FROM k)
    ORDER BY symbol, bar_window FOR UPDATE
)
SELECT k.symbol, k.bar_window, s.version, s.revision, s.seq, s.last_start,
       COALESCE(s.revision = k.held, false) AS held, CASE WHEN s.revision = k.held THEN NULL ELSE s.state END AS state,
       q.ts AS quote_ts, q.bid, q.ask, q.bid_size, q.ask_size, q.source AS quote_source
FROM k LEFT JOIN s USING (symbol, bar_window) LEFT JOIN latest_quote AS q ON q.symbol = k.symbol
""")

_insert_state = postgresql.insert(series_state)
_SAVE = _insert_state.on_conflict_do_update(
    index_elements=[series_state.c.symbol, series_state.c.bar_window],
    set_={name: _insert_state.excluded[name]
          for name in ("version", "revision", "seq", "last_start", "state", "updated_at")})

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
    revision: int = 0
    """The stored row's revision (0: no row yet); the next write of the series makes it ``revision + 1``."""
    source: Literal["kept", "stored", "new"] = "new"
    """Where the state came from: the caller's held state, the row's bytes, or nowhere (a new series, or
    a state of another version dropped)."""
    reset: bool = False


async def load_series(conn: AsyncConnection, symbol: str, window: str, held: Held | None = None) -> Loaded:
    """The series' state, locked until the transaction ends, and the symbol's latest quote. ``held``: the
    state the caller committed last for this series and its revision, used if the row is still at it."""
    params = {"symbol": symbol, "bar_window": window, "held": -1 if held is None else held[0]}
    return _loaded(symbol, window, (await conn.execute(_LOAD, params)).one(), held)


async def load_many(conn: AsyncConnection, keys: Sequence[SeriesKey],
                    held: Mapping[SeriesKey, Held] | None = None) -> dict[SeriesKey, Loaded]:
    """:func:`load_series` for many (symbol, window) keys in one round trip."""
    ordered, held = sorted(set(keys)), held or {}
    rows = await conn.execute(_LOAD_MANY, {"symbols": [k[0] for k in ordered], "windows": [k[1] for k in ordered],
                                           "held": [held[k][0] if k in held else -1 for k in ordered]})
    loaded = {}
    for row in rows:
        key = (row.symbol, row.bar_window)
        loaded[key] = _loaded(row.symbol, row.bar_window, row, held.get(key))
    return loaded


def _loaded(symbol: str, window: str, row: sa.Row[Any], held: Held | None) -> Loaded:
    quote = None
    if row.quote_ts is not None:
        quote = MarketQuote(symbol=symbol, ts=row.quote_ts, bid=row.bid, ask=row.ask, bid_size=row.bid_size,
                            ask_size=row.ask_size, source=row.quote_source)
    if row.version is None:
        return Loaded(SeriesState(symbol, window), quote)
    if row.version == STATE_VERSION:
        if row.held:
            assert held is not None, "a row comes back held only at the revision the caller passed"
            return Loaded(held[1], quote, row.revision, "kept")
        state = pickle.loads(row.state)
        if isinstance(state, SeriesState):
            return Loaded(state, quote, row.revision, "stored")
    return Loaded(SeriesState(symbol, window, seq=row.seq, last_start=row.last_start), quote, row.revision, reset=True)


async def save_series(conn: AsyncConnection, states: Sequence[tuple[int, SeriesState]]) -> None:
    """Upsert the states, each with the revision this write gives its row (their rows are locked by
    :func:`load_series` in this transaction)."""
    if not states:
        return
    now = datetime.now(UTC)
    await conn.execute(_SAVE, [
        {"symbol": s.symbol, "bar_window": s.window, "version": STATE_VERSION, "revision": revision, "seq": s.seq,
         "last_start": s.last_start, "state": pickle.dumps(s, protocol=pickle.HIGHEST_PROTOCOL), "updated_at": now}
        for revision, s in states])


async def put_quotes(conn: AsyncConnection, quotes: Sequence[MarketQuote]) -> None:
    """Store each symbol's quote unless the stored one is later (one quote per symbol per call)."""
    if not quotes:
        return
    now = datetime.now(UTC)
    await conn.execute(_PUT_QUOTE, [
        {"symbol": q.symbol, "ts": q.ts, "bid": q.bid, "ask": q.ask, "bid_size": q.bid_size,
         "ask_size": q.ask_size, "source": q.source, "updated_at": now}
        for q in sorted(quotes, key=lambda q: q.symbol)])  # sorted: two writers lock rows in the same order
