"""ClickHouse rows -> ``TaSignal``, and the batch query: no I/O, so both are unit-tested directly.

Shared by signal-trigger's live ClickHouse source and the research lane's ``clickhouse://`` input,
so a backtest reads a table exactly as the live service would.

The table may be upstream's (torghut-upstream.md §2.1: flat indicator columns, quotes as
``imbalance_bid_px``/``imbalance_ask_px``, no price column: the price is the microbar close) or a
table with the contract's own names; columns are looked up by name once at start-up.

A value that cannot be a fact (NaN, a non-positive price or quote, RSI outside 0-100) becomes
*missing*, so the core gates it and counts it, instead of the whole row being thrown away.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from torghut_contracts.models import TaSignal

#: TaSignal field -> candidate column names, first present wins.
COLUMN_CANDIDATES: dict[str, tuple[str, ...]] = {
    "source": ("source",),
    "window": ("window_size", "window"),
    "price": ("price", "close", "c"),
    "macd": ("macd",),
    "macd_signal": ("macd_signal",),
    "macd_hist": ("macd_hist",),
    "rsi14": ("rsi14",),
    "ema12": ("ema12",),
    "ema26": ("ema26",),
    "vwap": ("vwap_session", "vwap"),
    "bid": ("imbalance_bid_px", "bid"),
    "ask": ("imbalance_ask_px", "ask"),
    "bid_size": ("imbalance_bid_sz", "bid_size"),
    "ask_size": ("imbalance_ask_sz", "ask_size"),
    "spread_bps": ("spread_bps",),
    "volume": ("volume",),
}
POSITIVE = ("price", "bid", "ask")
NON_NEGATIVE = ("bid_size", "ask_size", "spread_bps", "volume")
MICROBAR_PRICE = "microbar_close"


@dataclass(frozen=True)
class RowKey:
    """A position in the table's (event_ts, symbol, seq) order: a batch holds the rows strictly after it.

    The defaults put the key before every row at ``event_ts`` (symbols are never empty), so
    ``RowKey(since)`` starts a read *at* ``since``, inclusive.
    """

    event_ts: datetime
    symbol: str = ""
    seq: int = -1


@dataclass(frozen=True)
class UpperBound:
    """Where a read stops: at ``at`` inclusive (the live source's lateness bound) or before it."""

    at: datetime
    inclusive: bool = True


@dataclass(frozen=True)
class SignalQuery:
    """How to read one batch after a cursor from the signal table (ClickHouse 18.16's SQL subset)."""

    table: str
    columns: Collection[str]
    price_table: str | None = None

    def select_list(self) -> str:
        parts = ["symbol", "toString(event_ts) AS event_ts_text", "seq"]
        for name, candidates in COLUMN_CANDIDATES.items():
            column = next((c for c in candidates if c in self.columns), None)
            if column is None and name == "price" and self.price_table:
                column = MICROBAR_PRICE
            parts.append(f"{column} AS {name}" if column else f"NULL AS {name}")
        return ", ".join(parts)

    @property
    def joins_microbars(self) -> bool:
        return self.price_table is not None and not any(c in self.columns for c in COLUMN_CANDIDATES["price"])

    def batch_sql(self, *, bounded: bool, inclusive: bool = True) -> str:
        """Rows strictly after the cursor in (event_ts, symbol, seq) order; params ts, symbol, seq, limit[, hi].

        ``bounded`` adds ``event_ts <= hi`` (``< hi`` when not ``inclusive``).
        """
        upper = f" AND event_ts {'<=' if inclusive else '<'} %(hi)s" if bounded else ""
        join = ""
        if self.joins_microbars:
            # The subquery is named: the analyzer of current ClickHouse (26.9, through chdb) refuses an unnamed
            # joined subquery (ALIAS_REQUIRED); 18.16 takes the name too.
            join = (f" ANY LEFT JOIN (SELECT symbol, event_ts, c AS {MICROBAR_PRICE} FROM {self.price_table}"
                    f" WHERE event_ts >= %(ts)s{upper}) AS bars USING (symbol, event_ts)")
        newest_first = ", ingest_ts DESC" if "ingest_ts" in self.columns else ""
        return (
            f"SELECT {self.select_list()} FROM {self.table}{join}"
            " WHERE (event_ts > %(ts)s OR (event_ts = %(ts)s AND (symbol > %(symbol)s"
            f" OR (symbol = %(symbol)s AND seq > %(seq)s)))){upper}"
            f" ORDER BY event_ts ASC, symbol ASC, seq ASC{newest_first} LIMIT %(limit)s"
        )

    def latest_sql(self) -> str:
        return f"SELECT toString(max(event_ts)) FROM {self.table} WHERE event_ts >= %(ts)s"


def to_literal(ts: datetime) -> str:
    """A UTC timestamp as ClickHouse text; the fraction only when there is one (DateTime has none)."""
    ts = ts.astimezone(UTC)
    text = ts.strftime("%Y-%m-%d %H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}".rstrip("0") if ts.microsecond % 1000 else f".{ts.microsecond // 1000:03d}"
    return text


def parse_timestamp(text: str) -> datetime | None:
    """ClickHouse's text for a UTC DateTime/DateTime64; None for its 'no value' (0000-00-00 or 1970)."""
    if text.startswith(("0000-", "1970-01-01 00:00:00")):
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    return None


def row_to_signal(row: Mapping[str, Any]) -> TaSignal:
    """One row as a signal; raises ``ValueError``/``ValidationError`` for a row with no usable identity."""
    event_ts = parse_timestamp(str(row["event_ts_text"]))
    if event_ts is None:
        raise ValueError(f"row without an event time: {row['event_ts_text']!r}")
    values: dict[str, Any] = {"symbol": row["symbol"], "event_ts": event_ts, "seq": row["seq"]}
    if row.get("source"):
        values["source"] = str(row["source"])
    if row.get("window"):
        values["window"] = str(row["window"])
    for name in ("price", "macd", "macd_signal", "macd_hist", "rsi14", "ema12", "ema26", "vwap", "bid", "ask",
                 "bid_size", "ask_size", "spread_bps", "volume"):
        number = _number(row.get(name))
        if number is None:
            continue
        if (name in POSITIVE and number <= 0) or (name in NON_NEGATIVE and number < 0):
            continue
        if name == "rsi14" and not Decimal(0) <= number <= Decimal(100):
            continue
        values[name] = number
    return TaSignal.model_validate(values)
