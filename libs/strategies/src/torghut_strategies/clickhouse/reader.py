"""Reading the signal table in batches after a key, with the synchronous clickhouse-driver.

Needs the ``clickhouse`` extra (``torghut-strategies[clickhouse]``). Call the methods from a worker
thread in async code (``asyncio.to_thread``): the driver blocks.

signal-trigger polls with it behind a durable cursor (and skips a row that cannot be a signal);
the research lane reads a bounded window with it (and stops at such a row). Both go through
:class:`ClickHouseReader` and :mod:`.rows`, so the same table gives both the same signals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.util.helpers import parse_url

from .rows import RowKey, SignalQuery, UpperBound, parse_timestamp, to_literal

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ClickHouseTableError(RuntimeError):
    """The signal table does not exist or lacks the identity columns (symbol, event_ts, seq)."""


@dataclass(frozen=True)
class ClickHouseSettings:
    """Where the signals are and how to read them.

    ``allowed_lateness_s`` > 0 makes :meth:`ClickHouseReader.fetch` (without an explicit bound) hold
    back the newest rows until they are that far behind the latest one, so a row still arriving
    out of order is not passed over by the cursor; a bounded read (the research lane) sets 0.
    """

    url: str
    table: str = "ta_signals"
    price_table: str | None = "ta_microbars"
    batch_size: int = 500
    allowed_lateness_s: int = 2
    query_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        # Table names are spliced into SQL: only plain identifiers, never an expression.
        for name in (self.table, self.price_table):
            if name is not None and not _IDENTIFIER.match(name):
                raise ValueError(f"not a plain table name: {name!r}")


class ClickHouseReader:
    """Synchronous reads from ClickHouse (call through ``asyncio.to_thread``)."""

    def __init__(self, settings: ClickHouseSettings) -> None:
        host, kwargs = parse_url(settings.url)
        # Connecting is bounded on its own so an unreachable host fails in seconds, whatever the
        # (possibly long) query timeout.
        kwargs.setdefault("connect_timeout", min(settings.query_timeout_s, 5.0))
        kwargs.setdefault("send_receive_timeout", settings.query_timeout_s)
        self.database = str(kwargs.get("database") or "default")
        self.settings = settings
        self.client = Client(host, **kwargs)
        self._query: SignalQuery | None = None

    def query(self) -> SignalQuery:
        """The batch query for this table, from its columns (looked up once)."""
        if self._query is None:
            rows = self.client.execute(
                "SELECT name FROM system.columns WHERE database = %(db)s AND table = %(table)s",
                {"db": self.database, "table": self.settings.table})
            columns = {str(r[0]) for r in rows}
            if not columns:
                raise ClickHouseTableError(f"ClickHouse table {self.database}.{self.settings.table} does not exist")
            missing = {"symbol", "event_ts", "seq"} - columns
            if missing:
                raise ClickHouseTableError(f"ClickHouse table {self.database}.{self.settings.table} lacks "
                                           f"{', '.join(sorted(missing))}")
            price_table = self.settings.price_table
            if price_table is not None:
                found = self.client.execute("SELECT count() FROM system.tables WHERE database = %(db)s "
                                            "AND name = %(t)s", {"db": self.database, "t": price_table})
                price_table = price_table if found[0][0] else None
            self._query = SignalQuery(self.settings.table, frozenset(columns), price_table)
        return self._query

    def latest(self, after: RowKey) -> datetime | None:
        """The newest event time at or after ``after`` (None: no such row)."""
        query = self.query()
        value = self.client.execute(query.latest_sql(), {"ts": to_literal(after.event_ts)})[0][0]
        return parse_timestamp(str(value))

    def fetch(self, after: RowKey, limit: int | None = None, *,
              upper: UpperBound | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` (default: the batch size) rows strictly after ``after``, as column -> value.

        Without ``upper``, a positive allowed lateness bounds the read at the latest row less the
        lateness; ``upper`` bounds it explicitly instead.
        """
        query = self.query()
        params: dict[str, Any] = {"ts": to_literal(after.event_ts), "symbol": after.symbol, "seq": after.seq,
                                  "limit": limit or self.settings.batch_size}
        if upper is None and self.settings.allowed_lateness_s > 0:
            latest = self.latest(after)
            if latest is None:
                return []
            upper = UpperBound(latest - timedelta(seconds=self.settings.allowed_lateness_s))
        if upper is not None:
            params["hi"] = to_literal(upper.at)
        sql = query.batch_sql(bounded=upper is not None, inclusive=upper is None or upper.inclusive)
        rows, columns = self.client.execute(sql, params, with_column_types=True)
        names = [c[0] for c in columns]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def close(self) -> None:
        self.client.disconnect()
