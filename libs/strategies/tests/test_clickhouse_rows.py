"""ClickHouse rows map onto the contract (bad values gated, not dropped) and the batch query pages by key."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from torghut_strategies.clickhouse.rows import RowKey, SignalQuery, parse_timestamp, row_to_signal, to_literal


def test_the_query_reads_upstreams_table_and_joins_the_microbar_close() -> None:
    upstream = {"symbol", "event_ts", "seq", "ingest_ts", "source", "window_size", "macd", "macd_signal", "rsi14",
                "imbalance_bid_px", "imbalance_ask_px", "vwap_session"}
    query = SignalQuery("ta_signals", upstream, price_table="ta_microbars")
    sql = query.batch_sql(bounded=True)
    assert "microbar_close AS price" in sql and "ANY LEFT JOIN" in sql
    assert "imbalance_bid_px AS bid" in sql and "vwap_session AS vwap" in sql and "NULL AS ema12" in sql
    assert "ORDER BY event_ts ASC, symbol ASC, seq ASC, ingest_ts DESC" in sql and "event_ts <= %(hi)s" in sql
    with_price = SignalQuery("ta_signals", upstream | {"price"}, price_table="ta_microbars")
    assert "JOIN" not in with_price.batch_sql(bounded=False) and "price AS price" in with_price.select_list()
    assert "NULL AS price" in SignalQuery("ta_signals", upstream, price_table=None).select_list()


def test_timestamps_round_trip_through_clickhouse_text() -> None:
    assert to_literal(datetime(2026, 2, 12, 15, 31, 2, tzinfo=UTC)) == "2026-02-12 15:31:02"
    assert to_literal(datetime(2026, 2, 12, 15, 31, 2, 123000, tzinfo=UTC)) == "2026-02-12 15:31:02.123"
    assert parse_timestamp("2026-02-12 15:31:02.123") == datetime(2026, 2, 12, 15, 31, 2, 123000, tzinfo=UTC)
    assert parse_timestamp("0000-00-00 00:00:00") is None and parse_timestamp("1970-01-01 00:00:00") is None


def test_impossible_values_become_missing_so_the_gates_count_them() -> None:
    row = {"symbol": "AAPL", "event_ts_text": "2026-02-12 15:31:02", "seq": 7, "source": "ta", "window": "PT1S",
           "price": 0.0, "macd": float("nan"), "macd_signal": 0.25, "rsi14": 140.0, "bid": -1.0, "ask": 100.5,
           "bid_size": 300, "spread_bps": None}
    signal = row_to_signal(row)
    assert (signal.price, signal.macd, signal.rsi14, signal.bid) == (None, None, None, None)
    assert signal.macd_signal == Decimal("0.25") and signal.ask == Decimal("100.5") and signal.bid_size == 300
    assert signal.window == "PT1S" and signal.seq == 7


def test_a_row_without_identity_is_invalid() -> None:
    with pytest.raises(ValueError):
        row_to_signal({"symbol": "aapl", "event_ts_text": "2026-02-12 15:31:02", "seq": 1})
    with pytest.raises(ValueError):
        row_to_signal({"symbol": "AAPL", "event_ts_text": "0000-00-00 00:00:00", "seq": 1})


def test_a_bounded_window_stops_before_its_end_and_starts_at_its_beginning() -> None:
    query = SignalQuery("ta_signals", {"symbol", "event_ts", "seq", "price"})
    assert "event_ts < %(hi)s" in query.batch_sql(bounded=True, inclusive=False)
    assert "event_ts <= %(hi)s" in query.batch_sql(bounded=True)
    start = RowKey(datetime(2026, 2, 12, 15, 0, tzinfo=UTC))
    assert (start.symbol, start.seq) == ("", -1), "before every row at that time: `since` is inclusive"


def test_table_names_are_plain_identifiers() -> None:
    from torghut_strategies.clickhouse.reader import ClickHouseSettings

    with pytest.raises(ValueError, match="not a plain table name"):
        ClickHouseSettings(url="clickhouse://h:9000/db", table="ta_signals; DROP TABLE x")
