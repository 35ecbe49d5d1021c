"""The column mapping: a bar lands at its close under a key its correction shares, a signal in upstream's
names, every row has exactly its table's columns, and ingest_ts is the message's production time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from torghut_clickhouse_sink.domain.rows import Skip, ingest_ts, microbar_row, signal_row, window_length
from torghut_clickhouse_sink.testing import T0, bars, signal_for
from torghut_contracts.models import BarOrigin
from torghut_strategies.clickhouse import schema

D = Decimal
INGEST = T0 + timedelta(minutes=1, seconds=2)


def test_a_bar_lands_at_its_close_the_instant_ta_stamps_its_signal() -> None:
    bar = bars("AAPL", 1)[0]
    row = microbar_row(bar, INGEST)
    assert not isinstance(row, Skip)
    assert row["event_ts"] == bar.start + timedelta(minutes=1) == signal_for(bar, 1).event_ts
    assert (row["window_start"], row["window_end"]) == (bar.start, row["event_ts"])
    assert (row["seq"], row["window_size"], row["window_step"]) == (60_000, "PT1M", "PT1M")
    assert (row["o"], row["h"], row["l"], row["c"], row["v"], row["vwap"]) == (
        float(bar.open), float(bar.high), float(bar.low), float(bar.close), float(bar.volume), float(bar.vwap or 0))
    assert (row["count"], row["origin"], row["ingest_ts"], row["is_final"]) == (40, "stream", INGEST, 1)
    assert list(row) == list(schema.MICROBARS.column_names)


def test_a_correction_shares_the_key_of_the_bar_it_corrects_and_another_window_does_not() -> None:
    bar = bars("AAPL", 1)[0]
    fixed = bar.model_copy(update={"close": bar.close + D("0.5"), "origin": BarOrigin.CORRECTION})
    seconds = bar.model_copy(update={"window": "PT1S", "start": bar.start + timedelta(seconds=59)})
    original, corrected, one_second = (microbar_row(b, INGEST) for b in (bar, fixed, seconds))
    assert isinstance(original, dict) and isinstance(corrected, dict) and isinstance(one_second, dict)

    def key(row: dict[str, object]) -> tuple[object, ...]:
        return row["symbol"], row["event_ts"], row["seq"]

    assert key(corrected) == key(original) and corrected["origin"] == "correction"
    assert one_second["event_ts"] == original["event_ts"] and key(one_second) != key(original)
    assert one_second["seq"] == 1000


@pytest.mark.parametrize("window", ["P1M", "PT", "PT0S", "1 minute", "P1W"])
def test_a_bar_without_a_day_time_window_has_no_close_and_is_skipped(window: str) -> None:
    assert window_length(window) is None
    assert microbar_row(bars("AAPL", 1)[0].model_copy(update={"window": window}), INGEST) is Skip.BAD_WINDOW


def test_window_lengths() -> None:
    assert window_length("PT1M") == timedelta(minutes=1) and window_length("P1D") == timedelta(days=1)
    assert window_length("PT0.5S") == timedelta(milliseconds=500)


def test_a_signal_in_upstreams_names() -> None:
    bar = bars("MSFT", 4, base=300)[3]
    signal = signal_for(bar, 4, bid_size=D("3.7"))
    row = signal_row(signal, INGEST)
    assert list(row) == list(schema.SIGNALS.column_names)
    assert (row["symbol"], row["event_ts"], row["seq"], row["source"]) == ("MSFT", signal.event_ts, 4, "ta")
    assert (row["window_size"], row["window_start"], row["window_end"]) == ("PT1M", bar.start, signal.event_ts)
    assert row["vwap_session"] == float(signal.vwap or 0) and row["vwap_w5m"] == float(bar.close)
    assert (row["imbalance_bid_px"], row["imbalance_ask_px"]) == (float(bar.close - D("0.01")),
                                                                  float(bar.close + D("0.01")))
    assert row["imbalance_spread"] == pytest.approx(0.02) and row["spread_bps"] == 2.0
    assert (row["imbalance_bid_sz"], row["imbalance_ask_sz"]) == (3, 5), "UInt64: whole units"
    assert (row["atr14"], row["warmup"], row["volume"]) == (1.5, 0, float(bar.volume))
    assert row["vol_realized_w60s"] is None and "price" not in row


def test_a_bare_signal_leaves_its_columns_empty() -> None:
    bare = signal_row(signal_for(bars("AAPL", 1)[0], 1, **dict.fromkeys(
        ("price", "macd", "bid", "ask", "bid_size", "ask_size", "spread_bps", "window", "warmup"))), INGEST)
    window = (bare["window_size"], bare["window_step"], bare["window_start"], bare["window_end"])
    assert window == ("", None, None, None)
    assert bare["macd"] is None and bare["imbalance_spread"] is None and bare["imbalance_bid_sz"] is None
    assert bare["warmup"] is None


def test_ingest_ts_is_the_production_time_to_the_millisecond() -> None:
    produced = datetime(2026, 3, 3, 9, 31, 2, 123456, tzinfo=timezone(timedelta(hours=-5)))
    kafka = datetime(2026, 3, 3, 14, 31, 9, tzinfo=UTC)
    assert ingest_ts(produced, kafka) == datetime(2026, 3, 3, 14, 31, 2, 123000, tzinfo=UTC)
    assert ingest_ts(None, kafka) == kafka, "no header: the Kafka timestamp"
    assert ingest_ts(datetime(2026, 3, 3, 14, 31, 2), kafka).tzinfo is UTC, "a naive header is UTC"
