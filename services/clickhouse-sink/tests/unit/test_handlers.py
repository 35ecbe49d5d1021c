"""The writers with the warehouse faked, and the warehouse against a port nobody listens on: one INSERT per
flush, a rollback forgets, an outage closes the gate and a refusal does not."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Any

import pytest
from clickhouse_driver.errors import ErrorCodes, ServerException, TypeMismatchError
from prometheus_client import CollectorRegistry
from torghut_clickhouse_sink.adapters.clickhouse import ClickHouseUnavailable, Warehouse, unavailable
from torghut_clickhouse_sink.handlers import bar_writer, signal_writer
from torghut_clickhouse_sink.metrics import SinkMetrics
from torghut_clickhouse_sink.testing import T0, bars, signal_for
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_runtime import Inbound
from torghut_strategies.clickhouse import schema
from torghut_strategies.clickhouse.schema import Table

NAMES = {"ta_microbars": "ta_microbars", "ta_signals": "ta_signals"}


class FakeWarehouse:
    names = NAMES

    def __init__(self) -> None:
        self.inserts: list[tuple[str, list[dict[str, Any]]]] = []

    async def insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        self.inserts.append((table.name, list(rows)))


def inbound(payload: Any, spec: Any) -> Inbound[Any]:
    return Inbound(payload=payload, headers=MessageHeaders.new(spec.name, now=T0), topic=spec.name, partition=0,
                   offset=0, key=payload.symbol, timestamp=T0)


def counted(metrics: SinkMetrics, name: str, **labels: str) -> float:
    return metrics.rows_written.labels(**labels)._value.get() if name == "rows" else \
        metrics.skipped.labels(**labels)._value.get()


async def test_a_batch_is_one_insert_at_flush_and_a_rollback_forgets_it() -> None:
    warehouse, metrics = FakeWarehouse(), SinkMetrics(CollectorRegistry(), NAMES.values())
    writer = bar_writer(warehouse, metrics)  # type: ignore[arg-type]
    series = bars("AAPL", 3)
    for bar in series:
        assert await writer(inbound(bar, topics.MARKET_BARS), conn=None) == []  # type: ignore[arg-type]
    writer.discard()  # the transaction rolled back before flush
    await writer.flush(conn=None)  # type: ignore[arg-type]
    assert warehouse.inserts == [], "nothing buffered survives a rollback"
    for bar in series:
        await writer(inbound(bar, topics.MARKET_BARS), conn=None)  # type: ignore[arg-type]
    await writer.flush(conn=None)  # type: ignore[arg-type]
    await writer.flush(conn=None)  # type: ignore[arg-type]
    (table, rows), = warehouse.inserts
    assert table == "ta_microbars" and [r["event_ts"] for r in rows] == [b.start + (rows[0]["event_ts"] - T0)
                                                                        for b in series]
    assert all(r["ingest_ts"] == T0 for r in rows), "the message's production time"
    assert counted(metrics, "rows", table="ta_microbars") == 3


async def test_a_bar_without_a_close_is_counted_and_gives_no_row() -> None:
    warehouse, metrics = FakeWarehouse(), SinkMetrics(CollectorRegistry(), NAMES.values())
    writer = bar_writer(warehouse, metrics)  # type: ignore[arg-type]
    bad = bars("AAPL", 1)[0].model_copy(update={"window": "P1M"})
    await writer(inbound(bad, topics.MARKET_BARS), conn=None)  # type: ignore[arg-type]
    await writer.flush(conn=None)  # type: ignore[arg-type]
    assert warehouse.inserts == [] and counted(metrics, "skip", table="ta_microbars", reason="bad_window") == 1


async def test_signals_go_to_their_table() -> None:
    warehouse, metrics = FakeWarehouse(), SinkMetrics(CollectorRegistry(), NAMES.values())
    writer = signal_writer(warehouse, metrics)  # type: ignore[arg-type]
    signal = signal_for(bars("AAPL", 1)[0], 1)
    await writer(inbound(signal, topics.TA_SIGNALS), conn=None)  # type: ignore[arg-type]
    await writer.flush(conn=None)  # type: ignore[arg-type]
    assert [(t, [r["seq"] for r in rows]) for t, rows in warehouse.inserts] == [("ta_signals", [1])]


def test_an_outage_is_told_apart_from_a_refusal() -> None:
    assert unavailable(ConnectionRefusedError()) and unavailable(EOFError("Unexpected EOF while reading bytes"))
    assert unavailable(ServerException("gone", code=ErrorCodes.UNKNOWN_TABLE))
    assert unavailable(ServerException("parts", code=ErrorCodes.TOO_MANY_PARTS))
    assert not unavailable(TypeMismatchError("out of range")), "the rows' fault"
    assert not unavailable(ServerException("cannot parse", code=ErrorCodes.CANNOT_PARSE_INPUT_ASSERTION_FAILED))


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again: nobody listens


async def test_an_insert_that_finds_clickhouse_gone_closes_the_gate_and_the_next_fails_fast() -> None:
    metrics = SinkMetrics(CollectorRegistry(), NAMES.values())
    warehouse = Warehouse(f"clickhouse://default:@127.0.0.1:{dead_port()}/default", NAMES, metrics,
                          create_tables=True, timeout_s=2, probe_interval_s=60)
    row = signal_for(bars("AAPL", 1)[0], 1)
    with pytest.raises(ClickHouseUnavailable, match="ClickHouse is down"):
        await warehouse.insert(schema.SIGNALS, [row.model_dump()])  # the gate starts closed
    warehouse._columns = {"ta_signals": ("symbol",)}
    warehouse.gate.set(True)  # as if ClickHouse had answered, then went away
    with pytest.raises(ClickHouseUnavailable, match="cannot take rows"):
        await warehouse.insert(schema.SIGNALS, [{"symbol": "AAPL"}])
    assert not warehouse.gate.is_open and metrics.up._value.get() == 0
    assert metrics.insert_failures.labels(table="ta_signals", reason="unavailable")._value.get() == 1
    watcher = asyncio.create_task(warehouse.watch())
    await asyncio.sleep(0.05)
    assert not warehouse.gate.is_open, "still down: the gate stays closed"
    watcher.cancel()
    await warehouse.close()
