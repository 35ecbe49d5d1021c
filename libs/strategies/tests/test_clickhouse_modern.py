"""The modern dialect on a current ClickHouse: the production DDL and the reader's queries, run by chdb.

The integration suites run Debian's clickhouse-server 18.16, the only server this machine can
install, and so the legacy dialect. chdb ships the current ClickHouse engine (26.x) in-process, so
the DDL of ``deploy/clickhouse/init/001-ta-tables.sql`` and the SQL signal-trigger's reader sends
run here on the version production runs. chdb speaks no native protocol, so the reader's
parameters are bound as clickhouse-driver would bind them, as literals.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from chdb import session
from torghut_strategies.clickhouse.rows import SignalQuery, to_literal
from torghut_strategies.clickhouse.schema import DATABASE, TABLES, init_sql

# TTL drops rows 35 days old: the rows are dated near the wall clock so the table keeps them.
T0 = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
SIGNALS, BARS = f"{DATABASE}.ta_signals", f"{DATABASE}.ta_microbars"


@pytest.fixture
def clickhouse(tmp_path: Path) -> Iterator[session.Session]:
    db = session.Session(str(tmp_path / "chdb"))
    text = "\n".join(line for line in init_sql().splitlines() if not line.lstrip().startswith("--"))
    for statement in filter(str.strip, text.split(";")):
        db.query(statement)
    yield db
    db.close()


def rows(db: session.Session, sql: str) -> list[list[str]]:
    return [line.split("\t") for line in str(db.query(sql, "TSV")).splitlines()]


def bind(sql: str, params: dict[str, Any]) -> str:
    def literal(value: Any) -> str:
        if isinstance(value, int):
            return str(value)
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return sql % {name: literal(value) for name, value in params.items()}


def insert_signal(db: session.Session, symbol: str, at: datetime, *, ingest: datetime, macd: float) -> None:
    db.query(f"INSERT INTO {SIGNALS} (symbol, event_ts, seq, ingest_ts, is_final, source, window_size, version, "
             f"macd, rsi14) VALUES ('{symbol}', '{to_literal(at)}', 1, '{to_literal(ingest)}', 1, 'ta', 'PT1M', 1, "
             f"{macd}, 55)")


def test_the_production_ddl_makes_both_tables_as_declared(clickhouse: session.Session) -> None:
    found = dict(tuple(r) for r in rows(clickhouse, f"SELECT name, engine FROM system.tables "
                                                     f"WHERE database = '{DATABASE}'"))
    assert found == {"ta_microbars": "ReplacingMergeTree", "ta_signals": "ReplacingMergeTree"}
    for table in TABLES:
        columns = [r[0] for r in rows(clickhouse, f"SELECT name FROM system.columns WHERE database = '{DATABASE}' "
                                                  f"AND table = '{table.name}' ORDER BY position")]
        assert tuple(columns) == table.column_names


def test_the_readers_batch_joins_the_bar_close_and_a_merge_keeps_the_newest_version(
        clickhouse: session.Session) -> None:
    at = T0 + timedelta(minutes=1)
    clickhouse.query(f"INSERT INTO {BARS} (symbol, event_ts, seq, ingest_ts, is_final, source, window_size, version, "
                     f"o, h, l, c, v, count, origin) VALUES ('AAPL', '{to_literal(at)}', 1, '{to_literal(at)}', 1, "
                     f"'ta', 'PT1M', 1, 1, 2, 0.5, 187.25, 100, 3, 'test')")
    insert_signal(clickhouse, "AAPL", at, ingest=at, macd=0.5)
    insert_signal(clickhouse, "AAPL", at, ingest=at + timedelta(seconds=1), macd=0.6)  # a correction
    columns = frozenset(c for t in TABLES if t.name == "ta_signals" for c in t.column_names)
    query = SignalQuery(SIGNALS, columns, BARS)
    params = {"ts": to_literal(T0), "hi": to_literal(at), "symbol": "", "seq": 0, "limit": 10}

    def batch() -> list[dict[str, str]]:
        out = str(clickhouse.query(bind(query.batch_sql(bounded=True), params), "TSVWithNames")).splitlines()
        return [dict(zip(out[0].split("\t"), line.split("\t"), strict=True)) for line in out[1:]]

    before = batch()
    assert [(r["symbol"], r["price"], r["macd"]) for r in before] == [
        ("AAPL", "187.25", "0.6"), ("AAPL", "187.25", "0.5")], "before a merge both versions come, the newest first"
    clickhouse.query(f"OPTIMIZE TABLE {SIGNALS} FINAL")
    assert [(r["price"], r["macd"]) for r in batch()] == [("187.25", "0.6")]
    latest = rows(clickhouse, bind(query.latest_sql(), {"ts": to_literal(T0)}))
    assert latest == [[to_literal(at) + ".000"]]
