"""Frames and file rows to contracts: what passes, and the reason code of every refusal."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from torghut_contracts.models import BarOrigin
from torghut_market_data.domain.frames import BadFrame, Reason, bar_from_frame, bar_from_row, quote_from_frame
from torghut_market_data.domain.ids import bar_message_id, quote_message_id

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 New York


def frame(**overrides: Any) -> dict[str, Any]:
    base = {"T": "b", "S": "AAPL", "o": 101.1, "h": 102.25, "l": 100.05, "c": 101.7, "v": 1200, "t": T0, "n": 31,
            "vw": 101.42}
    return {**base, **overrides}


def test_a_stream_bar_keeps_the_decimals_it_was_written_with() -> None:
    bar = bar_from_frame(frame(), origin=BarOrigin.STREAM, source="alpaca-iex")
    assert (bar.open, bar.high, bar.low, bar.close) == (Decimal("101.1"), Decimal("102.25"), Decimal("100.05"),
                                                        Decimal("101.7"))
    assert bar.volume == 1200 and bar.trade_count == 31 and bar.vwap == Decimal("101.42")
    assert bar.start == T0 and bar.origin is BarOrigin.STREAM and not bar.late and bar.source == "alpaca-iex"


def test_a_rest_bar_with_an_rfc3339_nanosecond_time_converts() -> None:
    bar = bar_from_frame(frame(t="2026-03-02T15:00:00.123456789Z"), origin=BarOrigin.BACKFILL, source="a")
    assert bar.start == T0.replace(microsecond=123456)


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"h": 99.0}, Reason.HIGH_BELOW_LOW),
    ({"c": 150.0}, Reason.PRICE_OUTSIDE_RANGE),
    ({"v": -5}, Reason.NEGATIVE_VOLUME),
    ({"S": "aapl"}, Reason.INVALID_SYMBOL),
    ({"S": None}, Reason.INVALID_SYMBOL),
    ({"S": "TOOLONGX"}, Reason.INVALID_SYMBOL),
    ({"o": None}, Reason.MISSING_FIELD),
    ({"t": "yesterday"}, Reason.INVALID_TIMESTAMP),
    ({"t": datetime(2026, 3, 2, 15, 0)}, Reason.INVALID_TIMESTAMP),
    ({"o": "abc"}, Reason.INVALID_NUMBER),
    ({"o": float("nan")}, Reason.INVALID_NUMBER),
    ({"o": 0, "l": 0}, Reason.INVALID_VALUE),
])
def test_a_bar_the_contract_refuses_has_a_reason(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadFrame) as refused:
        bar_from_frame(frame(**overrides), origin=BarOrigin.STREAM, source="a")
    assert refused.value.reason == reason


def test_a_file_row_with_optional_columns_empty_converts() -> None:
    bar = bar_from_row({"symbol": "MSFT", "start": "2026-03-02T15:00:00Z", "open": "10", "high": "11", "low": "9",
                        "close": "10.5", "volume": "7", "trade_count": "", "vwap": ""}, source="file")
    assert bar.origin is BarOrigin.FILE and bar.trade_count is None and bar.vwap is None


def test_quotes_convert_and_refuse() -> None:
    raw = {"T": "q", "S": "AAPL", "bp": 100.0, "bs": 3, "ap": 100.1, "as": 2, "t": T0, "bx": "V", "ax": "V"}
    quote = quote_from_frame(raw, source="alpaca-iex")
    assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (100, Decimal("100.1"), 3, 2)
    with pytest.raises(BadFrame) as refused:
        quote_from_frame({**raw, "bs": -1}, source="a")
    assert refused.value.reason == Reason.INVALID_VALUE


def test_message_ids_are_the_same_for_the_same_bar_and_differ_by_origin_and_correction_values() -> None:
    a = bar_from_frame(frame(), origin=BarOrigin.STREAM, source="a")
    assert bar_message_id(a) == bar_message_id(bar_from_frame(frame(), origin=BarOrigin.STREAM, source="a"))
    assert bar_message_id(a) != bar_message_id(bar_from_frame(frame(), origin=BarOrigin.BACKFILL, source="a"))
    c1 = bar_from_frame(frame(), origin=BarOrigin.CORRECTION, source="a")
    c2 = bar_from_frame(frame(c=101.8), origin=BarOrigin.CORRECTION, source="a")
    assert bar_message_id(c1) != bar_message_id(c2)
    q = quote_from_frame({"S": "AAPL", "bp": 1, "bs": 1, "ap": 2, "as": 1, "t": T0}, source="a")
    assert quote_message_id(q) == quote_message_id(q.model_copy())
