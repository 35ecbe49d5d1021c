"""A missing minute is fetched from the (fake) historical API and published before the bar that
revealed it; a bar older than the last one is published late; a restart finds the gap it left."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from torghut_contracts import topics
from torghut_contracts.models import BarOrigin
from torghut_market_data.app import MarketDataService
from torghut_market_data.testing import FakeMarketData, bar_frame, rest_bar
from torghut_runtime.testing import eventually, read_records

from .conftest import counted

M = timedelta(minutes=1)
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 New York


async def test_a_missing_minute_is_backfilled_in_order_and_an_old_bar_is_late(
        fake: FakeMarketData, make_service: Callable[..., MarketDataService], kafka_bootstrap: str,
        prefix: str) -> None:
    fake.history["AAPL"] = [rest_bar(T0, c=100.5), rest_bar(T0 + M, c=100.6), rest_bar(T0 + 2 * M, c=100.7),
                            rest_bar(T0 + 3 * M, c=100.8)]
    service = make_service()
    async with service.runtime.running():
        await eventually(lambda: fake.subscribed("bars", "AAPL"), what="subscription")
        await fake.push(bar_frame("AAPL", T0))
        await fake.push(bar_frame("AAPL", T0 + 3 * M))   # T0+1 and T0+2 never came
        await fake.push(bar_frame("AAPL", T0 + 2 * M))   # a straggler, after the backfill sent it
        records = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.name, expect=5, settle=0.3)
        assert counted(service, "torghut_market_data_gaps_total") == 1
        assert counted(service, "torghut_market_data_late_bars_total") == 1
    bars = [r.model(topics.MARKET_BARS) for r in records]
    assert [(b.start, b.origin, b.late) for b in bars] == [
        (T0, BarOrigin.STREAM, False), (T0 + M, BarOrigin.BACKFILL, False), (T0 + 2 * M, BarOrigin.BACKFILL, False),
        (T0 + 3 * M, BarOrigin.STREAM, False), (T0 + 2 * M, BarOrigin.STREAM, True)]
    assert str(bars[1].close) == "100.6"
    (request,) = fake.rest_requests
    assert request["symbols"] == "AAPL" and request["timeframe"] == "1Min" and request["feed"] == "iex"


async def test_a_restart_backfills_the_minutes_it_was_down(
        fake: FakeMarketData, make_service: Callable[..., MarketDataService], kafka_bootstrap: str,
        prefix: str) -> None:
    fake.history["MSFT"] = [rest_bar(T0 + M, o=400, h=401, low=399, c=400)]
    first = make_service()
    async with first.runtime.running():
        await eventually(lambda: fake.subscribed("bars", "MSFT"), what="subscription")
        await fake.push(bar_frame("MSFT", T0, o=400, h=401, low=399, c=400))
        await eventually(lambda: counted(first, "torghut_market_data_bars_total", origin="stream") == 1,
                         what="the first bar")
    second = make_service()  # same database: it knows MSFT's last start
    async with second.runtime.running():
        await eventually(lambda: fake.subscribed("bars", "MSFT"), what="resubscription")
        await fake.push(bar_frame("MSFT", T0 + 2 * M, o=400, h=401, low=399, c=400))
        records = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.name, expect=3, settle=0.3)
    assert [(r.model(topics.MARKET_BARS).start, r.model(topics.MARKET_BARS).origin) for r in records] == [
        (T0, BarOrigin.STREAM), (T0 + M, BarOrigin.BACKFILL), (T0 + 2 * M, BarOrigin.STREAM)]


async def test_a_failing_historical_api_leaves_the_gap_counted_and_the_bar_published(
        fake: FakeMarketData, make_service: Callable[..., MarketDataService], kafka_bootstrap: str,
        prefix: str) -> None:
    service = make_service()
    async with service.runtime.running():
        await eventually(lambda: fake.subscribed("bars", "AAPL"), what="subscription")
        fake.key = "rotated"  # the REST API now refuses our key (the socket authenticated before)
        await fake.push(bar_frame("AAPL", T0))
        await fake.push(bar_frame("AAPL", T0 + 2 * M))
        records = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.name, expect=2, settle=0.3)
        assert counted(service, "torghut_market_data_backfill_failures_total") == 1
    assert [r.model(topics.MARKET_BARS).start for r in records] == [T0, T0 + 2 * M]
