"""Builders for signal-trigger's tests and benchmark (no test framework imported here).

Signals come from :mod:`torghut_strategies.testing`; ClickHouse rows are this service's own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from torghut_contracts.models import TaSignal
from torghut_strategies.clickhouse import schema

#: Upstream's ``ta_signals`` and ``ta_microbars`` (torghut-upstream.md §2.1) in ClickHouse 18.16's subset
#: (DateTime instead of DateTime64(3), String instead of LowCardinality, no TTL, not replicated), from the
#: one definition the sink and the production init script use too.
CLICKHOUSE_DDL = schema.ddl(modern=False)
SIGNAL_COLUMNS = ("symbol", "event_ts", "seq", "ingest_ts", "is_final", "source", "window_size", "version", "macd",
                  "macd_signal", "rsi14", "imbalance_bid_px", "imbalance_ask_px")
MICROBAR_COLUMNS = ("symbol", "event_ts", "seq", "ingest_ts", "is_final", "source", "window_size", "version",
                    "o", "h", "l", "c", "v", "count")


def clickhouse_rows(signal: TaSignal) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(ta_signals row, ta_microbars row) for a signal, in SIGNAL_COLUMNS / MICROBAR_COLUMNS order."""
    ts = signal.event_ts.replace(tzinfo=None)

    def num(value: Decimal | None) -> float | None:
        return float(value) if value is not None else None

    price = float(signal.price) if signal.price is not None else 0.0
    row = (signal.symbol, ts, signal.seq, ts, 1, signal.source, signal.window or "PT1S", 1, num(signal.macd),
           num(signal.macd_signal), num(signal.rsi14), num(signal.bid), num(signal.ask))
    bar = (signal.symbol, ts, signal.seq, ts, 1, signal.source, signal.window or "PT1S", 1, price, price, price,
           price, 100.0, 1)
    return row, bar
