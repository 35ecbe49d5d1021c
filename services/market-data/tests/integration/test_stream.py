"""The real alpaca-py client against the fake Alpaca, through real Tansu and Postgres.

Bars and quotes reach their topics keyed by symbol under derived ids; a dropped connection is
reconnected (by alpaca-py) and resubscribed, and the stream goes on; a bar the contract refuses
goes to the DLQ with its reason while the next bar flows; refused credentials stop the stream
with a clear status instead of a retry loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.models import BarOrigin
from torghut_market_data.app import MarketDataService
from torghut_market_data.domain.ids import bar_message_id
from torghut_market_data.testing import FakeMarketData, bar_frame, quote_frame
from torghut_runtime.testing import eventually, read_records

from .conftest import counted

M = timedelta(minutes=1)
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 New York


async def subscribed(fake: FakeMarketData, *symbols: str) -> None:
    await eventually(lambda: all(fake.subscribed(c, s) for c in ("bars", "updatedBars", "quotes") for s in symbols),
                     what=f"subscription to {symbols}")


async def test_bars_and_quotes_reach_their_topics_and_a_dropped_connection_resumes(
        fake: FakeMarketData, make_service: Callable[..., MarketDataService], kafka_bootstrap: str,
        prefix: str) -> None:
    service = make_service()
    async with service.runtime.running():
        await subscribed(fake, "AAPL", "MSFT")
        assert fake.content_types == ["application/msgpack"]
        await fake.push(bar_frame("AAPL", T0), quote_frame("AAPL", T0 + timedelta(seconds=1)),
                        bar_frame("MSFT", T0, o=400, h=401, low=399, c=400.5))
        await eventually(lambda: counted(service, "torghut_market_data_bars_total", origin="stream") == 2,
                         what="two stream bars")
        await fake.drop()
        await eventually(lambda: fake.connections == 2, what="alpaca-py to reconnect")
        await subscribed(fake, "AAPL", "MSFT")
        await fake.push(bar_frame("AAPL", T0 + M), bar_frame("AAPL", T0 + M, kind="u", c=100.7))
        bars = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.name, expect=4, settle=0.3)
        quotes = await read_records(kafka_bootstrap, prefix + topics.MARKET_QUOTES.name, expect=1)
        assert counted(service, "torghut_market_data_stream_connections_total") == 2
    models = [r.model(topics.MARKET_BARS) for r in bars]
    assert [(m.symbol, m.start, m.origin) for m in models] == [
        ("AAPL", T0, BarOrigin.STREAM), ("MSFT", T0, BarOrigin.STREAM), ("AAPL", T0 + M, BarOrigin.STREAM),
        ("AAPL", T0 + M, BarOrigin.CORRECTION)]
    assert [r.key for r in bars] == ["AAPL", "MSFT", "AAPL", "AAPL"]
    assert [r.headers[h.MESSAGE_ID] for r in bars] == [bar_message_id(m) for m in models]
    assert models[0].source == "alpaca-iex" and str(models[3].close) == "100.7"
    quote = quotes[0].model(topics.MARKET_QUOTES)
    assert (quotes[0].key, str(quote.bid), str(quote.ask)) == ("AAPL", "100.0", "100.1")


async def test_a_bad_bar_goes_to_the_dlq_with_its_reason_and_the_next_flows(
        fake: FakeMarketData, make_service: Callable[..., MarketDataService], kafka_bootstrap: str,
        prefix: str) -> None:
    service = make_service(market_data_backfill=False)
    async with service.runtime.running():
        await subscribed(fake, "AAPL")
        await fake.push(bar_frame("AAPL", T0, h=98.0), bar_frame("AAPL", T0 + M, v=-3))
        await fake.push_unfaithful(bar_frame("TSLA", T0), bar_frame("bad sym", T0))  # not asked for
        await fake.push(bar_frame("AAPL", T0 + 2 * M))
        dead = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.name + ".dlq", expect=3, settle=0.3)
        bars = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.name, expect=1, settle=0.3)
        assert counted(service, "torghut_market_data_rejected_total", kind="bar", reason="high_below_low") == 1
        assert counted(service, "torghut_market_data_rejected_total", kind="bar", reason="negative_volume") == 1
        assert counted(service, "torghut_market_data_rejected_total", kind="bar", reason="invalid_symbol") == 1
        assert counted(service, "torghut_market_data_skipped_total", kind="bar", reason="not_in_universe") == 1
    assert [r.headers[h.DLQ_REASON] for r in dead] == ["high_below_low", "negative_volume", "invalid_symbol"]
    assert b'"h": 98.0' in dead[0].value and dead[0].key == "AAPL" and "x-dlq-source" in dead[0].headers
    assert [r.model(topics.MARKET_BARS).start for r in bars] == [T0 + 2 * M]


async def test_refused_credentials_stop_the_stream_with_a_clear_status(
        fake: FakeMarketData, make_service: Callable[..., MarketDataService]) -> None:
    service = make_service(alpaca_api_secret_key="wrong")
    async with service.runtime.running():
        await eventually(lambda: service.stream is not None and service.stream.status.state == "auth_failed",
                         what="the stream to give up on refused credentials")
        assert counted(service, "torghut_market_data_stream_auth_failures_total") == 1
        assert counted(service, "torghut_market_data_stream_connected") == 0
        app = service.runtime.asgi()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            status = (await client.get("/api/stream")).json()
        assert status == {"source": "alpaca", "state": "auth_failed", "error": "auth failed", "connections": 0}
        assert fake.auth_failures == 1 and fake.connections == 0  # no retry storm against Alpaca


async def test_over_subscription_is_counted_by_its_error_code(
        fake: FakeMarketData, make_service: Callable[..., MarketDataService]) -> None:
    fake.symbol_limit = 1
    service = make_service()
    async with service.runtime.running():
        await eventually(lambda: counted(service, "torghut_market_data_stream_errors_total", code="405") == 1,
                         what="the 405 symbol limit error to be counted")
        assert not fake.subscribed("bars", "AAPL")
