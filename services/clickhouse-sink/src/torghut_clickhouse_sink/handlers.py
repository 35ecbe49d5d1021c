"""The Kafka handlers: bars in -> ``ta_microbars`` rows, TA signals in -> ``ta_signals`` rows. Nothing published.

Both topics are consumed in batches (``CLICKHOUSE_SINK_BATCH_SIZE``): the handler turns each record
into a row and buffers it; ``flush``, which the runtime calls once per transaction, inside it,
before the records are marked processed, sends the batch's rows in one INSERT and returns once
ClickHouse acknowledged them. So the tracking records, and then the offsets, are committed only
after the rows are in ClickHouse; a crash in between leaves the records unclaimed and uncommitted,
and they are written again.

Writing again is harmless, which is what a batch handler needs (the runtime may run a batch more
than once: a rerun after it met a record processed before, record by record after a failure): a
row is a pure function of its message (:mod:`.domain.rows`), with the message's own production time
as ``ingest_ts``, so the second INSERT adds identical rows that ``ReplacingMergeTree`` collapses.
``discard`` (the transaction rolled back) forgets the buffered rows.

An INSERT that fails:

* because ClickHouse cannot take rows (down, a timeout, a missing table, overloaded): the
  warehouse closes the gate both topics wait behind and the batch fails; its records stay on the
  topic, uncommitted, and are written in order once ClickHouse is back (:mod:`.adapters.clickhouse`);
* because ClickHouse refuses these rows (a value out of its type's range): the runtime's own path
  for a ``flush`` that raises. The batch rolls back and runs again one record per savepoint (one
  INSERT each), so the other records commit; the refused one is retried after
  ``CONSUMER_RETRY_BACKOFF_MS`` and, after ``CONSUMER_MAX_ATTEMPTS``, dead-lettered to
  ``<topic>.dlq`` with the error in its headers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

import structlog
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts.models import MarketBar, TaSignal
from torghut_runtime import Inbound, Outgoing
from torghut_runtime.commit_hooks import after_commit
from torghut_strategies.clickhouse import schema
from torghut_strategies.clickhouse.schema import Table

from .adapters.clickhouse import Warehouse
from .domain.rows import Row, Skip, ingest_ts, microbar_row, signal_row
from .metrics import SinkMetrics

log = structlog.get_logger("torghut.clickhouse_sink")

M = TypeVar("M", bound=BaseModel)
ToRow = Callable[[Any, datetime], Row | Skip]
"""A message and its ingest_ts -> its row, or why it has none (:mod:`.domain.rows`)."""


class RowWriter(Generic[M]):
    """One topic into one table: a row per record, buffered, one INSERT per transaction at ``flush``."""

    def __init__(self, table: Table, to_row: ToRow, warehouse: Warehouse, metrics: SinkMetrics) -> None:
        self.table = table
        self.to_row = to_row
        self.warehouse = warehouse
        self.metrics = metrics
        self.name = warehouse.names[table.name]
        self._rows: list[Row] = []
        """The open transaction's rows, in order."""

    async def __call__(self, inbound: Inbound[M], conn: AsyncConnection) -> list[Outgoing]:
        row = self.to_row(inbound.payload, ingest_ts(inbound.headers.produced_at, inbound.timestamp))
        if isinstance(row, Skip):
            self._skipped(inbound.payload, row)
        else:
            self._rows.append(row)
        return []

    def _skipped(self, message: BaseModel, reason: Skip) -> None:
        log.info("message skipped", table=self.name, reason=reason.value, message=message.model_dump(mode="json"))
        after_commit(self.metrics.skipped.labels(table=self.name, reason=reason.value).inc)

    async def flush(self, conn: AsyncConnection) -> None:
        """Insert the transaction's rows, before its records are marked processed; raise if ClickHouse did not
        take them (the transaction then rolls back and nothing of the batch is committed)."""
        pending, self._rows = self._rows, []
        if pending:
            await self._write(pending)

    async def _write(self, pending: list[Row]) -> None:
        await self.warehouse.insert(self.table, pending)  # ClickHouseUnavailable: the gate holds the topic
        after_commit(functools.partial(self.metrics.rows_written.labels(table=self.name).inc, len(pending)))

    def discard(self) -> None:
        """The transaction (or a record's savepoint) rolled back: forget the rows it buffered."""
        self._rows = []


def bar_writer(warehouse: Warehouse, metrics: SinkMetrics) -> RowWriter[MarketBar]:
    return RowWriter(schema.MICROBARS, microbar_row, warehouse, metrics)


def signal_writer(warehouse: Warehouse, metrics: SinkMetrics) -> RowWriter[TaSignal]:
    return RowWriter(schema.SIGNALS, signal_row, warehouse, metrics)
