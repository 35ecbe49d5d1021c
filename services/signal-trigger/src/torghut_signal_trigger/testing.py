"""Builders for signal-trigger's tests and benchmark (no test framework imported here).

Signals come from :mod:`torghut_strategies.testing`; ClickHouse rows are this service's own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from torghut_contracts.models import TaSignal

#: Upstream's ``ta_signals`` and ``ta_microbars`` (torghut-upstream.md §2.1) in ClickHouse 18.16's subset:
#: DateTime instead of DateTime64(3), String instead of LowCardinality, no TTL, not replicated.
CLICKHOUSE_DDL = (
    """CREATE TABLE IF NOT EXISTS ta_signals (
        symbol String, event_ts DateTime('UTC'), seq UInt64, ingest_ts DateTime('UTC'), is_final UInt8,
        source String, window_size String, window_step Nullable(String), version UInt32,
        macd Nullable(Float64), macd_signal Nullable(Float64), macd_hist Nullable(Float64),
        ema12 Nullable(Float64), ema26 Nullable(Float64), rsi14 Nullable(Float64),
        boll_mid Nullable(Float64), boll_upper Nullable(Float64), boll_lower Nullable(Float64),
        vwap_session Nullable(Float64), vwap_w5m Nullable(Float64),
        imbalance_spread Nullable(Float64), imbalance_bid_px Nullable(Float64), imbalance_ask_px Nullable(Float64),
        imbalance_bid_sz Nullable(UInt64), imbalance_ask_sz Nullable(UInt64),
        vol_realized_w60s Nullable(Float64), microstructure_signal_v1 Nullable(String)
    ) ENGINE = ReplacingMergeTree(ingest_ts) PARTITION BY toDate(event_ts) ORDER BY (symbol, event_ts, seq)""",
    """CREATE TABLE IF NOT EXISTS ta_microbars (
        symbol String, event_ts DateTime('UTC'), seq UInt64, ingest_ts DateTime('UTC'), is_final UInt8,
        source String, window_size String, version UInt32,
        o Float64, h Float64, l Float64, c Float64, v Float64, vwap Nullable(Float64), count UInt64
    ) ENGINE = ReplacingMergeTree(ingest_ts) PARTITION BY toDate(event_ts) ORDER BY (symbol, event_ts, seq)""",
)
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
