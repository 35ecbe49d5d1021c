"""ClickHouse as the sink sees it: up or down, its tables and their columns, one INSERT per table per batch.

clickhouse-driver blocks, so every call runs in a worker thread (``asyncio.to_thread``); a client is
not thread-safe, so each table (one consumer lane each) has its own, and the probe another.

**Up or down.** The runtime retries a batch whose ``flush`` raised record by record and dead-letters
a record after ``CONSUMER_MAX_ATTEMPTS``: right for a row ClickHouse refuses, wrong for an outage,
which would dead-letter every record that arrives while ClickHouse is away. So an INSERT that fails
because ClickHouse cannot take rows (:func:`unavailable`: the network, a timeout, a missing table,
a read-only or overloaded server, credentials) closes :attr:`Warehouse.gate`, which both topics are
consumed behind: their records wait on the topic, neither handled, dead-lettered nor committed,
and the batch in hand fails fast without asking ClickHouse again. :meth:`Warehouse.watch` then asks
ClickHouse (backing off) until it answers, creates or completes the tables if configured, and opens
the gate; the waiting records are handled in order. Start-up is the same path: the gate starts closed.

**Tables.** With ``CLICKHOUSE_SINK_CREATE_TABLES`` the tables are created in the dialect of the
server's version (:mod:`torghut_strategies.clickhouse.schema`) and an older table gains the columns
it lacks; without, an absent table keeps the gate closed and a table lacking some columns is
written without them. The columns are read from ``system.columns`` whenever the gate opens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from clickhouse_driver import Client
from clickhouse_driver.errors import ErrorCodes
from clickhouse_driver.util.helpers import parse_url
from torghut_runtime.lane_topics import Gate
from torghut_strategies.clickhouse import schema
from torghut_strategies.clickhouse.schema import Table

from ..domain.rows import Row
from ..metrics import REFUSED, UNAVAILABLE, SinkMetrics

log = structlog.get_logger("torghut.clickhouse_sink")

#: Server and driver error codes that mean "ClickHouse cannot take rows now", not "these rows are wrong".
UNAVAILABLE_CODES = frozenset({
    ErrorCodes.NETWORK_ERROR, ErrorCodes.SOCKET_TIMEOUT, ErrorCodes.ALL_CONNECTION_TRIES_FAILED,
    ErrorCodes.UNEXPECTED_PACKET_FROM_SERVER, ErrorCodes.TIMEOUT_EXCEEDED, ErrorCodes.UNKNOWN_TABLE,
    ErrorCodes.UNKNOWN_DATABASE, ErrorCodes.TABLE_IS_DROPPED, ErrorCodes.NO_SUCH_COLUMN_IN_TABLE,
    ErrorCodes.READONLY, ErrorCodes.TABLE_IS_READ_ONLY, ErrorCodes.TOO_MANY_SIMULTANEOUS_QUERIES,
    ErrorCodes.MEMORY_LIMIT_EXCEEDED, ErrorCodes.TOO_MANY_PARTS, ErrorCodes.NOT_ENOUGH_SPACE,
    ErrorCodes.UNKNOWN_USER, ErrorCodes.WRONG_PASSWORD, ErrorCodes.REQUIRED_PASSWORD,
    516,  # AUTHENTICATION_FAILED (servers after 20.x)
})
BACKOFF_CAP_S = 30.0


class ClickHouseUnavailable(RuntimeError):
    """ClickHouse cannot take rows now (an outage, not the rows' fault): the topics wait for it."""


class TableProblem(RuntimeError):
    """A table is absent (and not to be created) or lacks its identity columns: the gate stays closed."""


def unavailable(exc: BaseException) -> bool:
    """Whether a failed statement says ClickHouse is down rather than that the rows are wrong."""
    return isinstance(exc, OSError | EOFError) or getattr(exc, "code", None) in UNAVAILABLE_CODES


class Warehouse:
    """The sink's ClickHouse: :attr:`gate` (open while it takes rows), :meth:`watch`, :meth:`insert`."""

    def __init__(self, url: str, names: Mapping[str, str], metrics: SinkMetrics, *, create_tables: bool,
                 timeout_s: float, probe_interval_s: float) -> None:
        host, kwargs = parse_url(url)
        # Connecting is bounded on its own, so an unreachable host fails in seconds.
        kwargs.setdefault("connect_timeout", min(timeout_s, 5.0))
        kwargs.setdefault("send_receive_timeout", timeout_s)
        self.database = str(kwargs.get("database") or "default")
        self.names = {table.name: names.get(table.name, table.name) for table in schema.TABLES}
        self.metrics = metrics
        self.create_tables = create_tables
        self.probe_interval_s = probe_interval_s
        self._clients = {table.name: Client(host, **kwargs) for table in schema.TABLES}
        self._admin = Client(host, **kwargs)
        self._columns: dict[str, tuple[str, ...]] = {}
        self.gate = Gate(False)
        self._down = asyncio.Event()
        self._down.set()
        self._strikes = 0
        """INSERTs that found ClickHouse unavailable since the last one it took."""
        metrics.up.set(0)

    # -- up or down ---------------------------------------------------------------------------
    async def watch(self) -> None:
        """Background loop: while the gate is closed, prepare ClickHouse (backing off); then open it.

        The wait before each try doubles with the failed tries in a row, counting the INSERTs that failed
        right after a reopening: a server that answers the probe but refuses every INSERT (too many parts)
        is not asked again at once, since each reopening costs the record at the head of a partition one
        of its ``CONSUMER_MAX_ATTEMPTS``."""
        failures = 0
        while True:
            if self.gate.is_open:
                await self._down.wait()
                continue
            if tries := failures + self._strikes:
                await asyncio.sleep(min(BACKOFF_CAP_S, self.probe_interval_s * 2 ** (tries - 1)))
            try:
                self._columns = await asyncio.to_thread(self.prepare)
            except Exception as exc:
                failures += 1
                self._admin.disconnect()
                log.warning("ClickHouse cannot take rows yet; bars and signals wait on their topics",
                            database=self.database, attempt=failures, error=repr(exc))
                continue
            failures = 0
            self._down.clear()
            self.gate.set(True)
            self.metrics.up.set(1)
            log.info("ClickHouse takes rows", database=self.database, tables=self.names)

    def _mark_down(self, table: str, exc: BaseException) -> None:
        if self.gate.is_open:
            log.error("ClickHouse went away; bars and signals wait on their topics until it is back",
                      table=table, error=repr(exc))
        self.gate.set(False)
        self.metrics.up.set(0)
        self._strikes += 1
        self._down.set()

    # -- tables -------------------------------------------------------------------------------
    def prepare(self) -> dict[str, tuple[str, ...]]:
        """(Blocking) The server's dialect, the tables created or completed if configured, and the columns
        each table has, in the schema's order: what :meth:`insert` writes."""
        modern = schema.is_modern(str(self._admin.execute("SELECT version()")[0][0]))
        if self.create_tables:
            for statement in schema.ddl(modern=modern, database=self.database, names=self.names):
                self._admin.execute(statement)
        return {table.name: self._writable_columns(table, modern) for table in schema.TABLES}

    def _writable_columns(self, table: Table, modern: bool) -> tuple[str, ...]:
        name = self.names[table.name]
        rows = self._admin.execute("SELECT name FROM system.columns WHERE database = %(db)s AND table = %(t)s",
                                   {"db": self.database, "t": name})
        present = {str(row[0]) for row in rows}
        if not present:
            raise TableProblem(f"ClickHouse table {self.database}.{name} does not exist "
                               "(CLICKHOUSE_SINK_CREATE_TABLES=false)")
        if missing := [column for column in schema.IDENTITY if column not in present]:
            raise TableProblem(f"ClickHouse table {self.database}.{name} lacks {', '.join(missing)}")
        lacking = [column for column in table.columns if column.name not in present]
        if lacking and self.create_tables:
            for column in lacking:
                self._admin.execute(schema.add_column(name, column, modern=modern, database=self.database))
            present.update(column.name for column in lacking)
            log.info("columns added to an older table", table=name, columns=[c.name for c in lacking])
        elif lacking:
            log.warning("table lacks columns of the schema; they are not written", table=name,
                        columns=[c.name for c in lacking])
        return tuple(column for column in table.column_names if column in present)

    # -- rows ---------------------------------------------------------------------------------
    async def insert(self, table: Table, rows: Sequence[Row]) -> None:
        """One INSERT of ``rows`` into ``table``; :class:`ClickHouseUnavailable` (and the gate closed) when
        ClickHouse cannot take them, the driver's error when it refuses them."""
        name = self.names[table.name]
        if not self.gate.is_open:  # the batch in hand when it went away: fail fast, do not ask again
            raise ClickHouseUnavailable(f"ClickHouse is down: {name} waits for it")
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self._insert, table, rows)
            self._strikes = 0
        except Exception as exc:
            self._clients[table.name].disconnect()  # whatever state it was left in: a fresh connection next time
            down = unavailable(exc)
            self.metrics.insert_failures.labels(table=name, reason=UNAVAILABLE if down else REFUSED).inc()
            if not down:
                raise
            self._mark_down(name, exc)
            raise ClickHouseUnavailable(f"ClickHouse cannot take rows into {name}: {exc!r}") from exc
        finally:
            self.metrics.insert_seconds.labels(table=name).observe(time.perf_counter() - started)

    def _insert(self, table: Table, rows: Sequence[Row]) -> None:
        columns = self._columns[table.name]
        target = schema.qualified(self.names[table.name], self.database)
        values: list[Any] = [tuple(row[column] for column in columns) for row in rows]
        self._clients[table.name].execute(f"INSERT INTO {target} ({', '.join(columns)}) VALUES", values)

    async def close(self) -> None:
        for client in (*self._clients.values(), self._admin):
            client.disconnect()
