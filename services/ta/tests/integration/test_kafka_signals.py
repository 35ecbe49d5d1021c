"""Through the real Tansu broker and Postgres: bars (and quotes) in, TA signals out.

(a) every bar applied gives one signal, keyed by its symbol, equal to the domain's own computation;
duplicates and late bars are counted and give none; (b) a service stopped mid-session and started
again publishes, value for value, what one uninterrupted run publishes; (c) a bar the contract
refuses is dead-lettered and the next bar still flows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.models import MarketBar, MarketQuote, TaSignal
from torghut_runtime.testing import create_topics_for, eventually, produce, read_records, test_settings
from torghut_ta.app import TaService, build_service
from torghut_ta.domain.series import SeriesState, apply
from torghut_ta.settings import TaSettings

D = Decimal
OPEN = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)  # 09:30 New York
SPECS = (topics.MARKET_BARS, topics.MARKET_QUOTES, topics.TA_SIGNALS)


def make_service(kafka_bootstrap: str, database_url: str, prefix: str, **overrides: Any) -> TaService:
    settings = test_settings(TaSettings, kafka_bootstrap=kafka_bootstrap, database_url=database_url,
                             topic_prefix=prefix, service_name="ta", **overrides)
    return build_service(settings, configure_logs=False)


def bars(symbol: str, count: int, *, first: int = -5, base: int = 100) -> list[MarketBar]:
    """One-minute bars from five minutes before the open, prices wandering deterministically."""
    out = []
    for i in range(count):
        close = D(base) + D((i * 37) % 23) / 4 - D((i * 11) % 7) / 2
        out.append(MarketBar(symbol=symbol, start=OPEN + timedelta(minutes=first + i), open=close - D("0.25"),
                             high=close + D(1), low=close - D(1), close=close, volume=D(1000 + (i * 97) % 500),
                             vwap=close - D("0.1")))
    return out


def expected_signals(series: Sequence[MarketBar], quote: MarketQuote | None = None) -> list[TaSignal]:
    """What the domain computes over the bars in memory, no broker, no database."""
    state = SeriesState(series[0].symbol, series[0].window)
    settings = TaSettings(kafka_bootstrap_servers="x:1", database_url="postgresql://x@x/x")
    return [apply(state, bar, quote, settings.rules()) for bar in series]


async def send(kafka_bootstrap: str, prefix: str, items: Sequence[MarketBar | MarketQuote]) -> None:
    for item in items:
        spec = topics.MARKET_BARS if isinstance(item, MarketBar) else topics.MARKET_QUOTES
        await produce(kafka_bootstrap, prefix + spec.name, item, key=item.symbol)


def counted(service: TaService, name: str, **labels: str) -> float:
    return service.runtime.registry.get_sample_value(name, labels) or 0.0


async def signals(kafka_bootstrap: str, prefix: str, expect: int) -> list[tuple[str | None, TaSignal]]:
    records = await read_records(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, expect=expect, settle=0.3)
    return [(r.key, r.model(topics.TA_SIGNALS)) for r in records]


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_topics_for(kafka_bootstrap, topic_namespace, *SPECS)
    return topic_namespace


async def test_bars_in_signals_out_keyed_by_symbol(kafka_bootstrap: str, fresh_database_url: str,
                                                   prefix: str) -> None:
    aapl, msft = bars("AAPL", 40), bars("MSFT", 40, base=300)
    quote = MarketQuote(symbol="AAPL", ts=aapl[0].start + timedelta(seconds=50), bid=D("99.5"), ask=D("99.6"),
                        bid_size=D(2), ask_size=D(5))
    service = make_service(kafka_bootstrap, fresh_database_url, prefix)
    async with service.runtime.running():
        await send(kafka_bootstrap, prefix, [quote])
        await eventually(lambda: counted(service, "torghut_ta_quotes_total") == 1, what="the quote stored")
        await send(kafka_bootstrap, prefix, [bar for pair in zip(aapl, msft, strict=True) for bar in pair])
        late = aapl[10].model_copy(update={"volume": D(5)})
        await send(kafka_bootstrap, prefix, [aapl[-1], late])  # a duplicate of the last bar, a late bar
        await eventually(lambda: counted(service, "torghut_ta_bars_skipped_total", reason="late_bar") == 1,
                         what="the late bar counted")
        got = await signals(kafka_bootstrap, prefix, expect=80)
    assert counted(service, "torghut_ta_bars_skipped_total", reason="duplicate_bar") == 1
    assert counted(service, "torghut_ta_bars_applied_total") == 80
    assert all(key == signal.symbol for key, signal in got), "keyed by symbol"
    assert [s for _, s in got if s.symbol == "AAPL"] == expected_signals(aapl, quote)
    assert [s for _, s in got if s.symbol == "MSFT"] == expected_signals(msft)
    first = got[0][1]
    assert (first.bid, first.ask, first.spread_bps) == (D("99.5"), D("99.6"), D("10.04520342"))
    assert got[2][1].bid is None, "the quote is older than 15 s at the second bar's close"
    assert got[-1][1].warmup is False and got[-1][1].vwap is not None


async def test_a_restart_mid_session_publishes_what_an_uninterrupted_run_does(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    series = bars("NVDA", 90) + bars("AMD", 90, base=50)
    series.sort(key=lambda bar: (bar.start, bar.symbol))
    half = len(series) // 2  # 09:57: mid-session, past the warm-up, session VWAP well under way

    whole_prefix = prefix + "whole."
    await create_topics_for(kafka_bootstrap, whole_prefix, *SPECS)
    whole = make_service(kafka_bootstrap, fresh_database_url, whole_prefix, db_schema="ta_whole")
    async with whole.runtime.running():
        await send(kafka_bootstrap, whole_prefix, series)
        uninterrupted = await signals(kafka_bootstrap, whole_prefix, expect=len(series))

    first = make_service(kafka_bootstrap, fresh_database_url, prefix)
    async with first.runtime.running():
        await send(kafka_bootstrap, prefix, series[:half])
        await eventually(lambda: counted(first, "torghut_ta_bars_applied_total") == half, what="the first half")
    second = make_service(kafka_bootstrap, fresh_database_url, prefix)
    async with second.runtime.running():
        await send(kafka_bootstrap, prefix, series[half:])
        restarted = await signals(kafka_bootstrap, prefix, expect=len(series))
    assert counted(second, "torghut_ta_bars_applied_total") == len(series) - half, "run 2 redid nothing"

    assert len(uninterrupted) == len(restarted) == len(series)
    assert restarted == uninterrupted, "value for value, in order"
    by_symbol = {symbol: [s for _, s in restarted if s.symbol == symbol] for symbol in ("NVDA", "AMD")}
    assert by_symbol["NVDA"] == expected_signals([b for b in series if b.symbol == "NVDA"])
    assert [s.seq for s in by_symbol["AMD"]] == list(range(1, 91))


async def test_a_bar_the_contract_refuses_is_dead_lettered_and_the_next_still_flows(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    good = bars("AAPL", 2)
    refused = json.loads(good[0].model_dump_json())
    refused.update(high="90", low="110")  # high below low
    service = make_service(kafka_bootstrap, fresh_database_url, prefix)
    async with service.runtime.running():
        await produce(kafka_bootstrap, prefix + topics.MARKET_BARS.name, json.dumps(refused).encode(), key="AAPL")
        await send(kafka_bootstrap, prefix, good[1:])
        dead = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.dlq.name, expect=1, settle=0.3)
        got = await signals(kafka_bootstrap, prefix, expect=1)
    assert len(dead) == 1 and dead[0].key == "AAPL"
    assert dead[0].headers[h.DLQ_REASON] == "schema"
    assert "below low" in dead[0].headers[h.DLQ_ERROR]
    assert [(key, s.seq, s.event_ts) for key, s in got] == [("AAPL", 1, good[1].start + timedelta(minutes=1))]
