"""The ClickHouse source against a real clickhouse-server (18.16), the real broker and Postgres.

Rows are read after a durable cursor ``(event_ts, symbol, seq)``; a restart, even one right after a
commit whose triggers were not yet published, resumes with no gap and no duplicate request id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from clickhouse_driver import Client
from torghut_contracts import topics
from torghut_contracts.enums import Side
from torghut_contracts.models import TaSignal
from torghut_embedded.clickhouse import ClickHouseServer
from torghut_runtime import ServiceRuntime
from torghut_runtime.testing import UnreachableBroker, create_topics_for, eventually, read_records, test_settings
from torghut_signal_trigger.adapters import store
from torghut_signal_trigger.adapters.clickhouse_source import ClickHouseSource
from torghut_signal_trigger.adapters.metrics import TriggerMetrics
from torghut_signal_trigger.app import MIGRATIONS, SignalTriggerService, build_service
from torghut_signal_trigger.settings import SignalTriggerSettings
from torghut_signal_trigger.testing import CLICKHOUSE_DDL, MICROBAR_COLUMNS, SIGNAL_COLUMNS, clickhouse_rows
from torghut_strategies.book import parse_strategy_book
from torghut_strategies.clickhouse.reader import ClickHouseSettings
from torghut_strategies.engine import EngineConfig, request_id_for
from torghut_strategies.testing import T0, make_signal

pytestmark = pytest.mark.clickhouse
D = Decimal
BOOK = parse_strategy_book({"version": 1, "strategies": [
    {"id": "macd-v1", "type": "macd_cross", "universe": "*", "cooldown_s": 0}]}, origin="test")
SYMBOLS = ("AAPL", "MSFT", "NVDA")


@pytest.fixture
def clickhouse_url(clickhouse_server: ClickHouseServer, clickhouse_database: str) -> str:
    """A fresh ClickHouse database with upstream's two tables (in 18.16's SQL subset)."""
    client = Client(clickhouse_server.host, port=clickhouse_server.tcp_port, database=clickhouse_database)
    for ddl in CLICKHOUSE_DDL:
        client.execute(ddl)
    client.disconnect()
    return clickhouse_server.url(clickhouse_database)


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.TA_SIGNALS, topics.TRIGGERS)
    return topic_namespace


def insert(url: str, signals: Sequence[TaSignal], *, without_microbar: Sequence[TaSignal] = ()) -> None:
    client = Client.from_url(url)
    rows = [clickhouse_rows(s) for s in signals]
    client.execute(f"INSERT INTO ta_signals ({', '.join(SIGNAL_COLUMNS)}) VALUES", [r for r, _ in rows])
    bars = [bar for signal, (_, bar) in zip(signals, rows, strict=True) if signal not in without_microbar]
    if bars:
        client.execute(f"INSERT INTO ta_microbars ({', '.join(MICROBAR_COLUMNS)}) VALUES", bars)
    client.disconnect()


def alternating(seqs: range) -> list[TaSignal]:
    """Every symbol's MACD flips side at every seq: each seq after the first is a cross (even up, odd down)."""
    return [make_signal(seq, symbol=symbol, macd=D(1) if seq % 2 == 0 else D(-1))
            for seq in seqs for symbol in SYMBOLS]


def expected_ids(signals: Sequence[TaSignal]) -> set[str]:
    return {request_id_for("macd-v1", s.symbol, s.seq, s.event_ts, Side.BUY if s.seq % 2 == 0 else Side.SELL)
            for s in signals if s.seq > 1}


def settings_for(kafka_bootstrap: str, database_url: str, prefix: str, url: str, **overrides: Any
                 ) -> SignalTriggerSettings:
    values: dict[str, Any] = {
        "signal_source": "clickhouse", "clickhouse_url": url, "clock": "event",
        "clickhouse_batch_size": 7, "clickhouse_poll_interval_s": 0.05, "clickhouse_allowed_lateness_s": 0,
        "clickhouse_start_at": (T0 - timedelta(minutes=1)).isoformat(), **overrides}
    return test_settings(SignalTriggerSettings, kafka_bootstrap=kafka_bootstrap, database_url=database_url,
                         topic_prefix=prefix, service_name="signal-trigger", **values)


def manual_source(settings: SignalTriggerSettings, runtime: ServiceRuntime) -> ClickHouseSource:
    """The source without its background loop, so a test decides exactly how many batches run."""
    assert settings.clickhouse_url is not None
    outbox = runtime.outbox(store.TRIGGERS_OUTBOX, store.trigger_message, poll_s=None)
    return ClickHouseSource(
        ClickHouseSettings(url=settings.clickhouse_url, batch_size=settings.clickhouse_batch_size,
                           allowed_lateness_s=settings.clickhouse_allowed_lateness_s),
        runtime.engine, EngineConfig(BOOK, settings.gate_config(), settings.trading_session()),
        TriggerMetrics(runtime.registry), outbox, replay=True,
        start_at=T0 - timedelta(minutes=1))


def counted(registry: Any, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0




async def test_a_restart_resumes_from_the_cursor_with_no_gap_and_no_duplicate(
        clickhouse_url: str, kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    first_wave = alternating(range(1, 9))                      # 24 rows
    replaced = make_signal(3, symbol="MSFT", macd=D(-1))       # the same key again (ReplacingMergeTree, unmerged)
    invalid = make_signal(4, symbol="AAPL").model_copy(update={"symbol": "aapl"})  # no valid identity: skipped
    insert(clickhouse_url, [*first_wave, replaced, invalid])
    total_rows = len(first_wave) + 2
    settings = settings_for(kafka_bootstrap, fresh_database_url, prefix, clickhouse_url)

    # Run 1: two clean batches, then a batch whose commit succeeds but whose publish fails ("crash").
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=False)
    runtime.produces(topics.TRIGGERS)
    async with runtime.running():
        source = manual_source(settings, runtime)
        assert await source.poll_once() == 7 and await source.poll_once() == 7
        source.outbox.sends = UnreachableBroker()
        with pytest.raises(ConnectionError):
            await source.poll_once()
        async with runtime.engine.connect() as conn:
            stranded = (await conn.execute(sa.text("SELECT count(*) FROM trigger_outbox"))).scalar_one()
        assert stranded > 0, "the third batch's triggers are committed but unpublished"

    # Run 2: the real service; meanwhile a second wave lands in ClickHouse.
    service: SignalTriggerService = build_service(settings, BOOK, configure_logs=False)
    second_wave = alternating(range(9, 13))                    # 12 more rows
    registry = service.runtime.registry
    async with service.runtime.running():
        await eventually(lambda: _rows_seen(registry, total_rows - 21), what="the rest of the first wave")
        insert(clickhouse_url, second_wave)
        await eventually(lambda: _rows_seen(registry, total_rows - 21 + len(second_wave)), what="the second wave")
        expected = expected_ids([*first_wave, *second_wave])
        records = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=len(expected),
                                     settle=0.5)
        assert counted(registry, "torghut_outbox_published_total", outbox="triggers") >= stranded
        both = (runtime.registry, registry)
        assert sum(counted(r, "torghut_signal_trigger_invalid_rows_total") for r in both) == 1
        # The replaced row is gated as a duplicate, unless a background merge already collapsed it.
        assert sum(counted(r, "torghut_signal_trigger_gated_total", reason="duplicate_signal") for r in both) <= 1

    ids = [r.model(topics.TRIGGERS).request_id for r in records]
    assert len(ids) == len(set(ids)), "no request id twice"
    assert set(ids) == expected, "no gap: every cross fired exactly once across the restart"
    assert all(r.key == r.model(topics.TRIGGERS).symbol for r in records)


async def _rows_seen(registry: Any, rows: int) -> bool:
    seen = counted(registry, "torghut_signal_trigger_signals_total", source="clickhouse")
    return seen + counted(registry, "torghut_signal_trigger_invalid_rows_total") >= rows


async def test_rows_wait_out_the_allowed_lateness_and_prices_come_from_microbars(
        clickhouse_url: str, kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    signals = [make_signal(seq, macd=D(1) if seq % 2 == 0 else D(-1)) for seq in range(1, 7)]
    insert(clickhouse_url, signals, without_microbar=[signals[3]])  # seq 4 has no microbar: no price
    settings = settings_for(kafka_bootstrap, fresh_database_url, prefix, clickhouse_url,
                            clickhouse_allowed_lateness_s=2)
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=False)
    runtime.produces(topics.TRIGGERS)
    async with runtime.running():
        source = manual_source(settings, runtime)
        assert await source.poll_once() == 4, "the newest 2 s (seq 5 and 6) wait for later rows"
        assert await source.poll_once() == 0
        insert(clickhouse_url, [make_signal(9)])
        assert await source.poll_once() == 2, "seq 5 and 6 are now 2 s behind the latest; seq 9 waits in turn"
        records = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=4, settle=0.3)
        assert counted(runtime.registry, "torghut_signal_trigger_gated_total", reason="missing_required_field") == 1
        cursor_at = counted(runtime.registry, "torghut_signal_trigger_clickhouse_cursor_event_time_seconds")
        assert cursor_at == (T0 + timedelta(seconds=6)).timestamp()
    triggers = [r.model(topics.TRIGGERS) for r in records]
    # seq 4 (no price) is gated, but its MACD side still counts: seq 5 crosses down from it.
    assert [(t.signal_seq, t.trigger_type) for t in triggers] == [
        (2, "macd_cross_up"), (3, "macd_cross_down"), (5, "macd_cross_down"), (6, "macd_cross_up")]
    assert all(t.price == D(100) for t in triggers), "the price is the microbar close"
