"""The two ClickHouse TA tables, defined once: ``ta_microbars`` (bars) and ``ta_signals`` (TA signals).

Three places need their DDL and used to keep copies that drifted: the production init script
(``deploy/clickhouse/init/001-ta-tables.sql``, :func:`init_sql`), the clickhouse-sink service that
creates them at start-up (:func:`ddl` for the server it finds), and the tests, which run on Debian's
clickhouse-server 18.16 (:func:`ddl` with ``modern=False``).

A column is a name, a :class:`Kind` and whether it is nullable; the kind is rendered per dialect:

* modern (ClickHouse >= 20.1, :func:`is_modern`): ``DateTime64(3, 'UTC')``, ``LowCardinality(String)``,
  and ``TTL toDateTime(event_ts) + INTERVAL 35 DAY``;
* 18.16's subset: ``DateTime('UTC')`` (whole seconds), ``String``, no TTL.

Both tables keep upstream's layout (torghut-upstream.md §2.1), so signal-trigger's
:class:`~torghut_strategies.clickhouse.reader.ClickHouseReader` reads them as it reads upstream's,
plus columns for the contract's fields upstream has no column for (appended at the end, so an older
table gains them with ``ALTER TABLE ... ADD COLUMN`` in the same order). ``ingest_ts`` is the version
of ``ReplacingMergeTree``: on a merge the row with the highest ``ingest_ts`` wins for each
``(symbol, event_ts, seq)``. ``ta_signals`` has no price column on purpose: the reader then takes
the price from the microbar closing at the signal's ``event_ts`` (an ``ANY LEFT JOIN``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

DATABASE = "torghut"
"""The production database (the init script creates it)."""
TTL_DAYS = 35
MODERN_SINCE = (20, 1)
"""The first ClickHouse release with DateTime64."""


class Kind(enum.Enum):
    """A column's type, independent of the server's dialect."""

    TIMESTAMP = "timestamp"
    LABEL = "label"
    """Short text repeated across rows (a symbol, a source): dictionary-encoded where the server can."""
    TEXT = "text"
    UINT8 = "UInt8"
    UINT32 = "UInt32"
    UINT64 = "UInt64"
    FLOAT64 = "Float64"


_MODERN = {Kind.TIMESTAMP: "DateTime64(3, 'UTC')", Kind.LABEL: "LowCardinality(String)", Kind.TEXT: "String"}
_LEGACY = {Kind.TIMESTAMP: "DateTime('UTC')", Kind.LABEL: "String", Kind.TEXT: "String"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = False

    def type_sql(self, *, modern: bool) -> str:
        """The column's type as the dialect spells it (``Nullable(...)`` around it when nullable)."""
        base = (_MODERN if modern else _LEGACY).get(self.kind, self.kind.value)
        return f"Nullable({base})" if self.nullable else base


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _columns(kind: Kind, names: str, *, nullable: bool = False) -> tuple[Column, ...]:
    return tuple(Column(name, kind, nullable) for name in names.split())


ENVELOPE = (
    Column("symbol", Kind.LABEL),
    Column("event_ts", Kind.TIMESTAMP),
    Column("seq", Kind.UINT64),
    Column("ingest_ts", Kind.TIMESTAMP),
    Column("is_final", Kind.UINT8),
    Column("source", Kind.LABEL),
    Column("window_size", Kind.LABEL),
    Column("window_step", Kind.TEXT, nullable=True),
    Column("window_start", Kind.TIMESTAMP, nullable=True),
    Column("window_end", Kind.TIMESTAMP, nullable=True),
    Column("version", Kind.UINT32),
)
"""Upstream's envelope, first in both tables."""
IDENTITY = ("symbol", "event_ts", "seq", "ingest_ts")
"""The sort key and the version: a table without them cannot be written (or read) as one of these."""

MICROBARS = Table("ta_microbars", (
    *ENVELOPE,
    *_columns(Kind.FLOAT64, "o h l c v"),
    Column("vwap", Kind.FLOAT64, nullable=True),
    Column("count", Kind.UINT64),
    # Beyond upstream: the contract's MarketBar.origin (stream, correction, backfill, file).
    Column("origin", Kind.LABEL),
))
SIGNALS = Table("ta_signals", (
    *ENVELOPE,
    *_columns(Kind.FLOAT64, "macd macd_signal macd_hist ema12 ema26 rsi14 boll_mid boll_upper boll_lower "
                            "vwap_session vwap_w5m imbalance_spread imbalance_bid_px imbalance_ask_px", nullable=True),
    *_columns(Kind.UINT64, "imbalance_bid_sz imbalance_ask_sz", nullable=True),
    Column("vol_realized_w60s", Kind.FLOAT64, nullable=True),
    Column("microstructure_signal_v1", Kind.TEXT, nullable=True),
    # Beyond upstream: TaSignal fields with no upstream column.
    *_columns(Kind.FLOAT64, "spread_bps volume atr14", nullable=True),
    Column("warmup", Kind.UINT8, nullable=True),
))
TABLES = (MICROBARS, SIGNALS)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VERSION = re.compile(r"^(\d+)\.(\d+)")


def is_modern(version: str) -> bool:
    """Whether the server (``SELECT version()``: ``18.16.1``, ``24.8.4.13``) has DateTime64 and TTL."""
    match = _VERSION.match(version.strip())
    if match is None:
        raise ValueError(f"not a ClickHouse version: {version!r}")
    return (int(match[1]), int(match[2])) >= MODERN_SINCE


def qualified(name: str, database: str | None) -> str:
    """``database.name`` (or ``name``), refusing anything but plain identifiers: names are spliced into SQL."""
    for part in (name, database):
        if part is not None and not _IDENTIFIER.match(part):
            raise ValueError(f"not a plain ClickHouse identifier: {part!r}")
    return f"{database}.{name}" if database else name


def create_table(table: Table, *, modern: bool, database: str | None = None, name: str | None = None) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for ``table`` (under ``name`` if given) in the dialect, without ';'."""
    width = max(len(c.name) for c in table.columns)
    columns = ",\n".join(f"    {c.name.ljust(width)} {c.type_sql(modern=modern)}" for c in table.columns)
    lines = [f"CREATE TABLE IF NOT EXISTS {qualified(name or table.name, database)}", "(", columns, ")",
             "ENGINE = ReplacingMergeTree(ingest_ts)", "PARTITION BY toDate(event_ts)",
             "ORDER BY (symbol, event_ts, seq)"]
    if modern:
        lines.append(f"TTL toDateTime(event_ts) + INTERVAL {TTL_DAYS} DAY")
    lines.append("SETTINGS index_granularity = 8192")
    return "\n".join(lines)


def ddl(*, modern: bool, database: str | None = None, names: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Both tables' statements, microbars first; ``names`` renames a table (``{"ta_signals": "my_signals"}``)."""
    names = names or {}
    return tuple(create_table(t, modern=modern, database=database, name=names.get(t.name)) for t in TABLES)


def add_column(table_name: str, column: Column, *, modern: bool, database: str | None = None) -> str:
    """``ALTER TABLE ... ADD COLUMN`` for a column an older table lacks (18.16 has no ``IF NOT EXISTS`` here)."""
    return f"ALTER TABLE {qualified(table_name, database)} ADD COLUMN {column.name} {column.type_sql(modern=modern)}"


INIT_HEADER = """\
-- TA tables: clickhouse-sink writes them from torghut.market.bars.v1 and torghut.ta.signals.v1, and
-- signal-trigger reads them when SIGNAL_SOURCE=clickhouse (the upstream layout, single node:
-- ReplacingMergeTree instead of ReplicatedReplacingMergeTree ON CLUSTER). The clickhouse-server
-- image runs this once, on an empty data volume. On a merge the row with the highest ingest_ts wins
-- for each (symbol, event_ts, seq); readers must still tolerate duplicates until then.
-- Generated from torghut_strategies.clickhouse.schema by deploy/generate.py: do not edit by hand.
"""


def init_sql(database: str = DATABASE) -> str:
    """The text of ``deploy/clickhouse/init/001-ta-tables.sql``: the database and both tables, modern dialect."""
    statements = [f"CREATE DATABASE IF NOT EXISTS {qualified(database, None)}",
                  *ddl(modern=True, database=database)]
    return INIT_HEADER + "".join(f"{statement};\n\n" for statement in statements).rstrip("\n") + "\n"
