"""A ClickHouse outage, played by a TCP proxy in front of the real server: nothing is committed, dead-lettered
or lost while it lasts, even across a restart, and every row lands once ClickHouse is back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import sqlalchemy as sa
from clickhouse_driver import Client
from torghut_clickhouse_sink.app import SinkService
from torghut_clickhouse_sink.testing import T0, bars, signal_for
from torghut_contracts import topics
from torghut_contracts.models import MarketBar, TaSignal
from torghut_embedded.clickhouse import ClickHouseServer
from torghut_embedded.tcp_proxy import TcpProxy
from torghut_runtime.testing import eventually, produce, read_records

TABLES = ("ta_microbars", "ta_signals")


def batch(first_minute: int) -> list[MarketBar | TaSignal]:
    series = bars("AAPL", 5, first=T0 + timedelta(minutes=first_minute))
    return [*series, *(signal_for(bar, first_minute + i + 1) for i, bar in enumerate(series))]


async def send(kafka_bootstrap: str, prefix: str, items: Sequence[MarketBar | TaSignal]) -> None:
    for item in items:
        spec = topics.MARKET_BARS if isinstance(item, MarketBar) else topics.TA_SIGNALS
        await produce(kafka_bootstrap, prefix + spec.name, item, key=item.symbol)


def sample(service: SinkService, name: str, **labels: str) -> float:
    return service.runtime.registry.get_sample_value(name, labels) or 0.0


def written(service: SinkService) -> tuple[float, ...]:
    return tuple(sample(service, "torghut_clickhouse_sink_rows_written_total", table=t) for t in TABLES)


async def processed(service: SinkService) -> int:
    async with service.runtime.engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM processed_messages"))).scalar_one())


def counts(clickhouse: Client) -> tuple[int, ...]:
    return tuple(clickhouse.execute(f"SELECT count() FROM {table}")[0][0] for table in TABLES)


async def test_an_outage_holds_the_records_uncommitted_across_a_restart_and_they_land_when_it_ends(
        kafka_bootstrap: str, prefix: str, make_service: Callable[..., SinkService], clickhouse: Client,
        clickhouse_server: ClickHouseServer, clickhouse_database: str) -> None:
    proxy = TcpProxy(clickhouse_server.host, clickhouse_server.tcp_port)
    await proxy.start()
    url = f"clickhouse://default:@127.0.0.1:{proxy.port}/{clickhouse_database}"
    first = make_service(clickhouse_url=url)
    async with first.runtime.running():
        await send(kafka_bootstrap, prefix, batch(0))
        await eventually(lambda: written(first) == (5, 5), what="the first batch written")
        await proxy.stop()  # ClickHouse gone, as the sink sees it
        await send(kafka_bootstrap, prefix, batch(5))
        await eventually(lambda: sample(first, "torghut_consumer_records_held") == 10,
                         what="the second batch held behind the closed gate")
        assert sample(first, "torghut_clickhouse_sink_up") == 0
        assert sample(first, "torghut_clickhouse_sink_insert_failures_total", table="ta_microbars",
                      reason="unavailable") + sample(first, "torghut_clickhouse_sink_insert_failures_total",
                                                     table="ta_signals", reason="unavailable") >= 1
        assert await processed(first) == 10, "only the first batch is marked processed"
    assert counts(clickhouse) == (5, 5)

    second = make_service(clickhouse_url=url)  # restarted while ClickHouse is still away
    async with second.runtime.running():
        await eventually(lambda: sample(second, "torghut_consumer_records_held") == 10,
                         what="the uncommitted batch read again and held")
        assert counts(clickhouse) == (5, 5) and await processed(second) == 10
        await proxy.start()
        await eventually(lambda: written(second) == (5, 5), what="the second batch written once ClickHouse is back")
        assert sample(second, "torghut_clickhouse_sink_up") == 1
        assert await processed(second) == 20
    for spec in (topics.MARKET_BARS, topics.TA_SIGNALS):
        assert await read_records(kafka_bootstrap, prefix + spec.dlq.name, expect=0, timeout=1, settle=0.3) == []
    for table in TABLES:
        clickhouse.execute(f"OPTIMIZE TABLE {table} FINAL")
    assert counts(clickhouse) == (10, 10), "every row once, none lost"
    await proxy.stop()
