"""Through the real Tansu broker, Postgres and clickhouse-server 18.16: bars and signals in, rows out.

(a) signal-trigger's ClickHouseReader reads back, from the sink's tables, the signals that were
published (the price from the microbar join); (b) a replay of the topics inserts identical rows that
collapse to one per key; (c) a correction wins over the bar it corrects whichever arrives first;
(d) a row ClickHouse refuses is dead-lettered while the rest of its batch lands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from clickhouse_driver import Client
from torghut_clickhouse_sink.app import SinkService
from torghut_clickhouse_sink.testing import T0, bars, signal_for
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import BarOrigin, MarketBar, TaSignal
from torghut_embedded.clickhouse import ClickHouseServer
from torghut_runtime.testing import eventually, produce, read_records
from torghut_strategies.clickhouse.reader import ClickHouseReader, ClickHouseSettings
from torghut_strategies.clickhouse.rows import RowKey, row_to_signal

D = Decimal
NOT_READ = ("vwap_w5m", "boll_mid", "boll_upper", "boll_lower", "atr14", "warmup")
"""TaSignal fields the ClickHouse reader does not read (signal-trigger's ClickHouse source has no use for them)."""


async def send(kafka_bootstrap: str, prefix: str, items: Sequence[MarketBar | TaSignal],
               produced_at: datetime | None = None) -> None:
    for item in items:
        spec = topics.MARKET_BARS if isinstance(item, MarketBar) else topics.TA_SIGNALS
        headers = MessageHeaders.new(spec.name, now=produced_at) if produced_at else None
        await produce(kafka_bootstrap, prefix + spec.name, item, key=item.symbol, headers=headers)


def written(service: SinkService, table: str) -> float:
    return service.runtime.registry.get_sample_value("torghut_clickhouse_sink_rows_written_total",
                                                     {"table": table}) or 0.0


def table_rows(client: Client, table: str) -> list[tuple[Any, ...]]:
    return client.execute(f"SELECT * FROM {table} ORDER BY symbol, event_ts, seq, ingest_ts")


def optimized(client: Client, table: str) -> list[tuple[Any, ...]]:
    client.execute(f"OPTIMIZE TABLE {table} FINAL")
    return table_rows(client, table)


async def test_signal_trigger_reads_back_the_published_signals_priced_from_the_microbars(
        kafka_bootstrap: str, prefix: str, make_service: Callable[..., SinkService], clickhouse: Client,
        clickhouse_server: ClickHouseServer, clickhouse_database: str) -> None:
    series = bars("AAPL", 10) + bars("MSFT", 10, base=300)
    signals = [signal_for(bar, i % 10 + 1) for i, bar in enumerate(series)]
    signals[4] = signal_for(series[4], 5, price=None, bid=None, ask=None, bid_size=None, ask_size=None)
    bad_window = series[0].model_copy(update={"window": "P1M"})
    service = make_service()
    async with service.runtime.running():
        await send(kafka_bootstrap, prefix, [*series, bad_window, *signals])
        await eventually(lambda: written(service, "ta_microbars") == 20 and written(service, "ta_signals") == 20,
                         what="every bar and signal written")
    assert service.runtime.registry.get_sample_value(
        "torghut_clickhouse_sink_skipped_total", {"table": "ta_microbars", "reason": "bad_window"}) == 1

    reader = ClickHouseReader(ClickHouseSettings(url=clickhouse_server.url(clickhouse_database),
                                                 allowed_lateness_s=0, batch_size=1000))
    read = [row_to_signal(row) for row in await asyncio.to_thread(reader.fetch, RowKey(T0))]
    reader.close()
    closes = {(bar.symbol, bar.start + timedelta(minutes=1)): bar.close for bar in series}
    expected = [s.model_copy(update={**dict.fromkeys(NOT_READ), "price": closes[s.symbol, s.event_ts]})
                for s in sorted(signals, key=lambda s: (s.event_ts, s.symbol, s.seq))]
    assert read == expected
    assert signals[4].price is None and read[8].symbol == "AAPL" and read[8].price == series[4].close
    bar_row = clickhouse.execute("SELECT toString(event_ts), seq, c, count, origin FROM ta_microbars "
                                 "WHERE symbol = 'MSFT' ORDER BY event_ts LIMIT 1")
    assert bar_row == [("2026-03-03 14:31:00", 60000, float(series[10].close), 40, "stream")]


async def test_a_replay_of_the_topics_inserts_identical_rows_that_collapse_to_one_per_key(
        kafka_bootstrap: str, prefix: str, make_service: Callable[..., SinkService], clickhouse: Client) -> None:
    series = bars("NVDA", 15, base=500)
    signals = [signal_for(bar, i + 1) for i, bar in enumerate(series)]
    first = make_service()
    async with first.runtime.running():
        await send(kafka_bootstrap, prefix, [*series, *signals])
        await eventually(lambda: written(first, "ta_signals") == 15 and written(first, "ta_microbars") == 15,
                         what="the first run's rows")
    before = {table: table_rows(clickhouse, table) for table in ("ta_microbars", "ta_signals")}
    assert all(len(rows) == 15 for rows in before.values())

    # Another consumer group and tracking schema reads both topics from the start: every row again.
    replay = make_service(service_name="clickhouse-sink-replay")
    async with replay.runtime.running():
        await eventually(lambda: written(replay, "ta_signals") == 15 and written(replay, "ta_microbars") == 15,
                         what="the replay's rows")
    for table, rows in before.items():
        assert optimized(clickhouse, table) == rows, f"{table}: one row per key, as the first run wrote it"


async def test_a_correction_wins_over_the_bar_it_corrects_whichever_arrives_first(
        kafka_bootstrap: str, prefix: str, make_service: Callable[..., SinkService], clickhouse: Client) -> None:
    aapl, msft = bars("AAPL", 1)[0], bars("MSFT", 1, base=300)[0]
    fixes = [bar.model_copy(update={"close": bar.close + D("0.5"), "high": bar.high + 1,
                                    "origin": BarOrigin.CORRECTION}) for bar in (aapl, msft)]
    stamped = T0 + timedelta(minutes=1, seconds=1)
    service = make_service()
    async with service.runtime.running():
        await send(kafka_bootstrap, prefix, [fixes[0]], produced_at=stamped + timedelta(seconds=5))
        await send(kafka_bootstrap, prefix, [aapl, msft], produced_at=stamped)  # AAPL's original arrives late
        await send(kafka_bootstrap, prefix, [fixes[1]], produced_at=stamped + timedelta(seconds=5))
        await eventually(lambda: written(service, "ta_microbars") == 4, what="all four bars written")
    optimized(clickhouse, "ta_microbars")
    got = clickhouse.execute("SELECT symbol, c, origin, toString(ingest_ts) FROM ta_microbars ORDER BY symbol")
    assert got == [("AAPL", float(fixes[0].close), "correction", "2026-03-03 14:31:06"),
                   ("MSFT", float(fixes[1].close), "correction", "2026-03-03 14:31:06")]


async def test_a_row_clickhouse_refuses_is_dead_lettered_and_the_rest_of_its_batch_lands(
        kafka_bootstrap: str, prefix: str, make_service: Callable[..., SinkService], clickhouse: Client) -> None:
    good = bars("AAPL", 4)
    beyond = good[0].model_copy(update={"start": datetime(2200, 1, 1, tzinfo=T0.tzinfo)})  # past 18.16's DateTime
    service = make_service(consumer_max_attempts=2)
    async with service.runtime.running():
        await send(kafka_bootstrap, prefix, [*good[:2], beyond, *good[2:]])
        dead = await read_records(kafka_bootstrap, prefix + topics.MARKET_BARS.dlq.name, expect=1, settle=0.3)
        await eventually(lambda: written(service, "ta_microbars") == 4, what="the other bars written")
    assert len(dead) == 1 and dead[0].headers[h.DLQ_REASON] == "handler_error"
    assert dead[0].model(topics.MARKET_BARS) == beyond
    assert clickhouse.execute("SELECT count() FROM ta_microbars") == [(4,)]
    assert service.runtime.registry.get_sample_value(
        "torghut_clickhouse_sink_insert_failures_total", {"table": "ta_microbars", "reason": "refused"}) >= 2
    assert service.runtime.registry.get_sample_value("torghut_clickhouse_sink_up") == 1, "a refusal is no outage"
