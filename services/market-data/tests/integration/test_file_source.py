"""MARKET_DATA_SOURCE=file: every row in file order (origin=file), bad rows to the DLQ with their
reason, then idle; a restart over the same file publishes nothing again (the Postgres cursor)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.models import BarOrigin
from torghut_market_data.app import MarketDataService
from torghut_runtime.testing import eventually, read_records

from .conftest import counted

CSV = """symbol,start,open,high,low,close,volume,trade_count,vwap
AAPL,2026-03-02T15:00:00Z,100,101,99,100.5,1000,10,100.2
MSFT,2026-03-02T15:00:00Z,400,401,399,400.5,500,,
AAPL,2026-03-02T15:01:00Z,100,99,101,100,10,1,100
AAPL,2026-03-02T15:02:00Z,100.5,101,100,100.8,700,7,100.6
AAPL,2026-03-02T15:01:30Z,100.5,101,100,100.8,700,7,100.6
"""


async def test_a_file_is_published_once_in_order_with_bad_rows_dead_lettered(
        tmp_path: Path, make_service: Callable[..., MarketDataService], kafka_bootstrap: str, prefix: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(CSV)
    first = make_service(market_data_source="file", market_data_file=str(path), market_data_file_cursor_every=2)
    async with first.runtime.running():
        assert first.file is not None
        await eventually(first.file.done.is_set, what="the file to be published")
        assert counted(first, "torghut_market_data_bars_total", origin="file") == 4
    records = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.name, expect=4)
    bars = [r.model(topics.MARKET_BARS) for r in records]
    assert [(b.symbol, b.start.minute, b.start.second, b.late) for b in bars] == [
        ("AAPL", 0, 0, False), ("MSFT", 0, 0, False), ("AAPL", 2, 0, False), ("AAPL", 1, 30, True)]
    assert {b.origin for b in bars} == {BarOrigin.FILE} and bars[1].trade_count is None
    (dead,) = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.name + ".dlq", expect=1)
    assert dead.headers[h.DLQ_REASON] == "high_below_low" and dead.headers["x-dlq-source"].endswith(":4")
    assert b'"line": 4' in dead.value

    second = make_service(market_data_source="file", market_data_file=str(path))
    async with second.runtime.running():
        assert second.file is not None
        await eventually(second.file.done.is_set, what="the restart to find the file done")
    again = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.name, expect=4, settle=0.5)
    assert len(again) == 4 and counted(second, "torghut_market_data_bars_total", origin="file") == 0


async def test_a_changed_file_resumes_nothing_and_is_published_from_the_top(
        tmp_path: Path, make_service: Callable[..., MarketDataService], kafka_bootstrap: str, prefix: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(CSV.splitlines()[0] + "\n" + CSV.splitlines()[1] + "\n")
    first = make_service(market_data_source="file", market_data_file=str(path))
    async with first.runtime.running():
        assert first.file is not None
        await eventually(first.file.done.is_set, what="the first file")
    path.write_text(CSV)
    second = make_service(market_data_source="file", market_data_file=str(path))
    async with second.runtime.running():
        assert second.file is not None
        await eventually(second.file.done.is_set, what="the changed file")
        assert counted(second, "torghut_market_data_bars_total", origin="file") == 4


QUOTES = """symbol,ts,bid,ask,bid_size,ask_size
AAPL,2026-03-02T15:00:59Z,100.4,100.6,300,200
AAPL,2026-03-02T15:01:10Z,-1,100.6,300,200
MSFT,2026-03-02T15:02:00Z,400.4,400.6,100,100
"""


async def test_a_quotes_file_is_merged_with_the_bars_in_time_order(
        tmp_path: Path, make_service: Callable[..., MarketDataService], kafka_bootstrap: str, prefix: str) -> None:
    bars, quotes = tmp_path / "bars.csv", tmp_path / "quotes.csv"
    bars.write_text("\n".join(CSV.splitlines()[:3]) + "\nAAPL,2026-03-02T15:01:00Z,100.5,101,100,100.8,700,7,100.6\n")
    quotes.write_text(QUOTES)
    service = make_service(market_data_source="file", market_data_file=str(bars), market_data_quotes_file=str(quotes))
    async with service.runtime.running():
        assert service.file is not None
        await eventually(service.file.done.is_set, what="both files to be published")
    bar_records = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.name, expect=3)
    quote_records = await read_records(kafka_bootstrap, prefix + topics.MARKET_QUOTES.name, expect=2)
    assert len(bar_records) == 3
    assert [(q.symbol, str(q.bid)) for q in (r.model(topics.MARKET_QUOTES) for r in quote_records)] == [
        ("AAPL", "100.4"), ("MSFT", "400.4")]
    (dead,) = await read_records(kafka_bootstrap, prefix + topics.MARKET_QUOTES.name + ".dlq", expect=1)
    assert dead.headers["x-dlq-source"].endswith("quotes.csv:3") and b'"line": 3' in dead.value
    # The order is file_rows' (tests/unit/test_file_rows.py); both files are in the cursor's hash:
    again = make_service(market_data_source="file", market_data_file=str(bars), market_data_quotes_file=str(quotes))
    async with again.runtime.running():
        assert again.file is not None
        await eventually(again.file.done.is_set, what="the restart to find both files done")
        assert counted(again, "torghut_market_data_quotes_total") == 0
