"""Postgres: each bar series' state (a snapshot and the bars applied since) and each symbol's latest quote.

Every function takes the caller's connection, so a series' state commits in the same transaction
as the tracking records of the bars that changed it: a restart resumes exactly where the last
commit left off, and a redelivered bar (its tracking record already there) changes nothing twice.

A series is stored the way event sourcing stores an aggregate: a snapshot (``series_state.state``,
a pickled ``SeriesState`` at ``snapshot_seq``) and the bars applied after it (``series_bars``),
which a load replays onto the snapshot. A write appends the transaction's bars and moves the row's
``seq`` on. Once a series crosses a multiple of ``SNAPSHOT_EVERY`` bars (shifted per symbol, so
series that move in step do not all snapshot in the same batch), the write pickles a new snapshot
and deletes the log up to it. Pickling every state on every write was a fifth of the service's
CPU and ~7 KB of WAL per bar.

Each write of a row increments its ``revision``. A caller that still holds the state it committed
as that revision (:mod:`.committed_states`) passes it in, and a row still at that revision is
neither sent back, nor unpickled, nor replayed: the held object is the state.

``version`` names the snapshots' format: a row of another version is not unpickled, the series
starts afresh (keeping its ``seq`` and ``last_start``, so sequence numbers and the late-bar rule
carry on) and warms up again; its next write is a snapshot. Bump ``STATE_VERSION`` whenever
``SeriesState``, its parts, or the talipp version changes.

The statements are built once, with named binds; the tables are the classes of :mod:`.tables`.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import MarketBar, MarketQuote

from ..domain.series import SeriesState
from .committed_states import Held, SeriesKey
from .tables import LatestQuoteRow, SeriesBarRow, SeriesStateRow

log = structlog.get_logger("torghut.ta")

STATE_VERSION = 1
SNAPSHOT_EVERY = 32
"""Bars between two snapshots of a series: a load replays at most this many (about 2 ms)."""

series_state: sa.Table = SeriesStateRow.__table__  # type: ignore[attr-defined]
series_bars: sa.Table = SeriesBarRow.__table__  # type: ignore[attr-defined]
latest_quote: sa.Table = LatestQuoteRow.__table__  # type: ignore[attr-defined]

#: The series row-locked in key order (one writer per series until commit, and two writers never
#: deadlock), and each symbol's latest quote, in one round trip; a row of each side may be missing.
#: ``held`` is the revision of the state the caller holds (-1: none): a row still at it comes back
#: without its bytes.
_LOAD = sa.text("""
WITH k AS (
    SELECT * FROM unnest(CAST(:symbols AS text[]), CAST(:windows AS text[]), CAST(:held AS bigint[]))
        AS k(symbol, bar_window, held)
), s AS (
    SELECT symbol, bar_window, version, revision, seq, last_start, snapshot_seq, state FROM series_state
    WHERE (symbol, bar_window) IN (SELECT symbol, bar_window FROM k)
    ORDER BY symbol, bar_window FOR UPDATE
)
SELECT k.symbol, k.bar_window, s.version, s.revision, s.seq, s.last_start, s.snapshot_seq,
       COALESCE(s.revision = k.held, false) AS held, CASE WHEN s.revision = k.held THEN NULL ELSE s.state END AS state,
       q.ts AS quote_ts, q.bid, q.ask, q.bid_size, q.ask_size, q.source AS quote_source
FROM k LEFT JOIN s USING (symbol, bar_window) LEFT JOIN latest_quote AS q ON q.symbol = k.symbol
""")

#: The bars logged after the snapshots of some series (their rows are locked by ``_LOAD``), in order.
_LOGGED = sa.text("""
SELECT b.symbol, b.bar_window, b.seq, b.start, b.open, b.high, b.low, b.close, b.volume, b.vwap
FROM series_bars AS b
JOIN unnest(CAST(:symbols AS text[]), CAST(:windows AS text[])) AS k(symbol, bar_window) USING (symbol, bar_window)
ORDER BY b.symbol, b.bar_window, b.seq
""")

_insert_state = postgresql.insert(series_state)
_SNAPSHOT = _insert_state.on_conflict_do_update(
    index_elements=[series_state.c.symbol, series_state.c.bar_window],
    set_={name: _insert_state.excluded[name]
          for name in ("version", "revision", "seq", "last_start", "snapshot_seq", "state", "updated_at")})
_TRIM_LOG = sa.delete(series_bars).where(
    series_bars.c.symbol == sa.bindparam("b_symbol"), series_bars.c.bar_window == sa.bindparam("b_window"),
    series_bars.c.seq <= sa.bindparam("b_seq"))
_ADVANCE = sa.update(series_state).where(
    series_state.c.symbol == sa.bindparam("b_symbol"), series_state.c.bar_window == sa.bindparam("b_window"),
).values(revision=sa.bindparam("b_revision"), seq=sa.bindparam("b_seq"), last_start=sa.bindparam("b_last_start"),
         updated_at=sa.bindparam("b_updated_at"))
_APPEND = postgresql.insert(series_bars)

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
    """The snapshot's state, or the held one; ``logged`` still to be replayed onto it."""
    quote: MarketQuote | None
    revision: int = 0
    """The stored row's revision (0: no row yet); the next write of the series makes it ``revision + 1``."""
    snapshot_seq: int | None = None
    """The seq the stored snapshot is at; None: no usable snapshot (no row, or another version's), so
    the series' next write is a snapshot."""
    logged: list[MarketBar] = field(default_factory=list)
    """Bars applied after the snapshot, in order: the caller replays them (``domain.series.replay``)."""
    source: Literal["kept", "stored", "new"] = "new"
    """Where the state came from: the caller's held state, the row, or nowhere (a new series, or a
    state of another version dropped)."""
    reset: bool = False


@dataclass
class SeriesWrite:
    """What a transaction did to one series: the state now, and the bars it applied (in order)."""

    state: SeriesState
    revision: int
    """The revision this write gives the row."""
    snapshot_seq: int | None
    """``Loaded.snapshot_seq`` as loaded."""
    bars: Sequence[MarketBar]
    """The transaction's bars: the last one is at ``state.seq``."""

    def snapshot_due(self) -> bool:
        if self.snapshot_seq is None:
            return True
        shift = zlib.crc32(self.state.symbol.encode()) % SNAPSHOT_EVERY
        return (self.state.seq + shift) // SNAPSHOT_EVERY > (self.snapshot_seq + shift) // SNAPSHOT_EVERY


async def load_series(conn: AsyncConnection, symbol: str, window: str, held: Held | None = None) -> Loaded:
    """The series' state, locked until the transaction ends, and the symbol's latest quote. ``held``: the
    state the caller committed last for this series and its revision, used if the row is still at it."""
    key = (symbol, window)
    return (await load_many(conn, [key], {key: held} if held is not None else None))[key]


async def load_many(conn: AsyncConnection, keys: Sequence[SeriesKey],
                    held: Mapping[SeriesKey, Held] | None = None) -> dict[SeriesKey, Loaded]:
    """:func:`load_series` for many (symbol, window) keys: one round trip, two if a row must be replayed."""
    ordered, held = sorted(set(keys)), held or {}
    rows = (await conn.execute(_LOAD, {"symbols": [k[0] for k in ordered], "windows": [k[1] for k in ordered],
                                       "held": [held[k][0] if k in held else -1 for k in ordered]})).all()
    replayed = [row for row in rows if row.version == STATE_VERSION and not row.held and row.seq > row.snapshot_seq]
    logged = await _logged(conn, [(row.symbol, row.bar_window) for row in replayed]) if replayed else {}
    loaded = {}
    for row in rows:
        key = (row.symbol, row.bar_window)
        loaded[key] = _loaded(key, row, held.get(key), logged.get(key, []))
    return loaded


async def _logged(conn: AsyncConnection,
                  keys: Sequence[SeriesKey]) -> dict[SeriesKey, list[tuple[int, MarketBar]] | None]:
    """Each series' logged bars, in order; None for a series with a bar that no longer validates (a row
    edited by hand or corrupted): its log cannot be replayed, and the series warms up again."""
    out: dict[SeriesKey, list[tuple[int, MarketBar]] | None] = {}
    for row in await conn.execute(_LOGGED, {"symbols": [k[0] for k in keys], "windows": [k[1] for k in keys]}):
        key = (row.symbol, row.bar_window)
        bars = out.setdefault(key, [])
        if bars is None:
            continue
        try:
            bars.append((row.seq, MarketBar(symbol=row.symbol, window=row.bar_window, start=row.start, open=row.open,
                                            high=row.high, low=row.low, close=row.close, volume=row.volume,
                                            vwap=row.vwap)))
        except ValidationError as exc:
            log.error("a logged bar does not validate; the series' log cannot be replayed", symbol=row.symbol,
                      window=row.bar_window, seq=row.seq, error=str(exc)[:500])
            out[key] = None
    return out


def _loaded(key: SeriesKey, row: sa.Row[Any], held: Held | None,
            logged: list[tuple[int, MarketBar]] | None) -> Loaded:
    symbol, window = key
    quote = None
    if row.quote_ts is not None:
        quote = MarketQuote(symbol=symbol, ts=row.quote_ts, bid=row.bid, ask=row.ask, bid_size=row.bid_size,
                            ask_size=row.ask_size, source=row.quote_source)
    if row.version is None:
        return Loaded(SeriesState(symbol, window), quote)
    if row.version == STATE_VERSION:
        if row.held:
            assert held is not None, "a row comes back held only at the revision the caller passed"
            return Loaded(held[1], quote, row.revision, row.snapshot_seq, source="kept")
        state = pickle.loads(row.state)
        seqs = None if logged is None else [seq for seq, _ in logged]
        if logged is not None and isinstance(state, SeriesState) and state.seq == row.snapshot_seq and seqs == list(
                range(row.snapshot_seq + 1, row.seq + 1)):
            return Loaded(state, quote, row.revision, row.snapshot_seq, [bar for _, bar in logged], "stored")
        log.error("stored series snapshot and bar log disagree; warming up again", symbol=symbol, window=window,
                  seq=row.seq, snapshot_seq=row.snapshot_seq, logged="unreadable" if seqs is None else len(seqs))
    return Loaded(SeriesState(symbol, window, seq=row.seq, last_start=row.last_start), quote, row.revision, reset=True)


async def save_series(conn: AsyncConnection, writes: Sequence[SeriesWrite]) -> None:
    """Write what the transaction did to each series (their rows are locked by :func:`load_series` in
    this transaction): a snapshot where one is due, the new bars logged everywhere else."""
    now = datetime.now(UTC)
    snapshots: list[SeriesWrite] = []
    advanced: list[SeriesWrite] = []
    for write in writes:
        (snapshots if write.snapshot_due() else advanced).append(write)
    if snapshots:
        await conn.execute(_SNAPSHOT, [
            {"symbol": w.state.symbol, "bar_window": w.state.window, "version": STATE_VERSION,
             "revision": w.revision, "seq": w.state.seq, "last_start": w.state.last_start,
             "snapshot_seq": w.state.seq, "state": pickle.dumps(w.state, protocol=pickle.HIGHEST_PROTOCOL),
             "updated_at": now}
            for w in snapshots])
        await conn.execute(_TRIM_LOG, [{"b_symbol": w.state.symbol, "b_window": w.state.window, "b_seq": w.state.seq}
                                       for w in snapshots])
    if advanced:
        await conn.execute(_ADVANCE, [
            {"b_symbol": w.state.symbol, "b_window": w.state.window, "b_revision": w.revision,
             "b_seq": w.state.seq, "b_last_start": w.state.last_start, "b_updated_at": now}
            for w in advanced])
        await conn.execute(_APPEND, [
            {"symbol": bar.symbol, "bar_window": bar.window, "seq": w.state.seq - len(w.bars) + n, "start": bar.start,
             "open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close, "volume": bar.volume,
             "vwap": bar.vwap}
            for w in advanced for n, bar in enumerate(w.bars, start=1)])


async def put_quotes(conn: AsyncConnection, quotes: Sequence[MarketQuote]) -> None:
    """Store each symbol's quote unless the stored one is later (one quote per symbol per call)."""
    if not quotes:
        return
    now = datetime.now(UTC)
    await conn.execute(_PUT_QUOTE, [
        {"symbol": q.symbol, "ts": q.ts, "bid": q.bid, "ask": q.ask, "bid_size": q.bid_size,
         "ask_size": q.ask_size, "source": q.source, "updated_at": now}
        for q in sorted(quotes, key=lambda q: q.symbol)])  # sorted: two writers lock rows in the same order
