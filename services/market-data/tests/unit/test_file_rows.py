"""The file source's order with a quotes file: merged as a feed delivers them (a bar at its close)."""

from __future__ import annotations

from pathlib import Path

import pytest
from torghut_market_data.adapters.file_source import file_rows

BARS = """symbol,start,open,high,low,close,volume
AAPL,2026-03-02T15:00:00Z,100,101,99,100.5,1000
MSFT,2026-03-02T15:00:00Z,400,401,399,400.5,500
AAPL,2026-03-02T15:01:00Z,100.5,101,100,100.8,700
AAPL,not-a-time,100.5,101,100,100.8,700
"""
QUOTES = """symbol,ts,bid,ask,bid_size,ask_size
AAPL,2026-03-02T15:00:59Z,100.4,100.6,300,200
MSFT,2026-03-02T15:01:00Z,400.4,400.6,100,100
AAPL,2026-03-02T15:01:30Z,100.7,100.9,100,100
"""


def test_quotes_and_bars_are_merged_by_when_each_exists(tmp_path: Path) -> None:
    bars, quotes = tmp_path / "bars.csv", tmp_path / "quotes.csv"
    bars.write_text(BARS)
    quotes.write_text(QUOTES)
    order = [(r.kind, r.row["symbol"], r.line) for r in file_rows(bars, quotes)]
    assert order == [
        ("quote", "AAPL", 2),  # 15:00:59
        ("quote", "MSFT", 3),  # 15:01:00, a tie with the 15:00 bars' close: the quote first
        ("bar", "AAPL", 2), ("bar", "MSFT", 3),  # close 15:01
        ("quote", "AAPL", 4),  # 15:01:30
        ("bar", "AAPL", 4),  # close 15:02
        ("bar", "AAPL", 5),  # an unreadable start sorts where it is met (it is dead-lettered anyway)
    ]


def test_without_quotes_the_bars_keep_file_order(tmp_path: Path) -> None:
    bars = tmp_path / "bars.csv"
    bars.write_text(BARS)
    assert [r.line for r in file_rows(bars, None)] == [2, 3, 4, 5]


def test_a_quotes_file_without_its_columns_is_refused_naming_them(tmp_path: Path) -> None:
    bars, quotes = tmp_path / "bars.csv", tmp_path / "quotes.csv"
    bars.write_text(BARS)
    quotes.write_text("symbol,ts,bid\nAAPL,2026-03-02T15:00:59Z,1\n")
    with pytest.raises(ValueError, match="ask, bid_size, ask_size"):
        list(file_rows(bars, quotes))
