"""The one definition of the TA tables renders each dialect, covers every column the deploy DDL has, and
the 18.16 subset is what a real 18.16 server creates (type for type)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from torghut_strategies.clickhouse import schema

DEPLOY_SQL = Path(__file__).resolve().parents[3] / "deploy" / "clickhouse" / "init" / "001-ta-tables.sql"


def deployed_columns() -> dict[str, set[str]]:
    """Column names per table in the production init script (whatever wrote it)."""
    text = DEPLOY_SQL.read_text()
    tables = re.findall(r"CREATE TABLE IF NOT EXISTS \w+\.(\w+)\s*\((.*?)\n\)", text, flags=re.S)
    return {name: {line.split()[0] for line in body.strip().splitlines()} for name, body in tables}


def test_the_server_version_picks_the_dialect() -> None:
    assert not schema.is_modern("18.16.1") and not schema.is_modern("19.17.6.36")
    assert schema.is_modern("20.1.2.4") and schema.is_modern("24.8.4.13")
    with pytest.raises(ValueError, match="not a ClickHouse version"):
        schema.is_modern("latest")


def test_the_modern_dialect_has_datetime64_lowcardinality_and_ttl_the_legacy_one_none() -> None:
    modern, legacy = schema.ddl(modern=True, database="torghut"), schema.ddl(modern=False)
    assert [s.splitlines()[0] for s in modern] == ["CREATE TABLE IF NOT EXISTS torghut.ta_microbars",
                                                   "CREATE TABLE IF NOT EXISTS torghut.ta_signals"]
    assert all("DateTime64(3, 'UTC')" in s and "LowCardinality(String)" in s and "INTERVAL 35 DAY" in s
               for s in modern)
    assert not any(word in s for s in legacy for word in ("DateTime64", "LowCardinality", "TTL", "torghut."))
    for statement in (*modern, *legacy):
        assert "ENGINE = ReplacingMergeTree(ingest_ts)" in statement
        assert "PARTITION BY toDate(event_ts)" in statement and "ORDER BY (symbol, event_ts, seq)" in statement
    assert "window_start Nullable(DateTime('UTC'))" in " ".join(legacy[0].split())


def test_every_column_of_the_deployed_tables_is_defined_with_the_identity_first() -> None:
    deployed = deployed_columns()
    assert set(deployed) == {"ta_microbars", "ta_signals"}
    for table in schema.TABLES:
        assert deployed[table.name] <= set(table.column_names), table.name
        assert table.column_names[:4] == ("symbol", "event_ts", "seq", "ingest_ts")
        assert len(set(table.column_names)) == len(table.column_names), "no column twice"
    assert "price" not in schema.SIGNALS.column_names, "the reader joins the microbar close for the price"


def test_the_init_script_creates_the_database_and_both_tables() -> None:
    text = schema.init_sql()
    assert text.startswith("-- TA tables") and "do not edit by hand" in text and text.endswith(";\n")
    assert text.count(";\n") == 3 and "\nCREATE DATABASE IF NOT EXISTS torghut;\n" in text
    assert all(statement + ";\n" in text for statement in schema.ddl(modern=True, database="torghut"))


def test_names_are_plain_identifiers_and_tables_may_be_renamed() -> None:
    renamed = schema.ddl(modern=False, database="db1", names={"ta_signals": "signals_b"})
    assert renamed[1].startswith("CREATE TABLE IF NOT EXISTS db1.signals_b\n")
    with pytest.raises(ValueError, match="plain ClickHouse identifier"):
        schema.create_table(schema.SIGNALS, modern=False, name="x; DROP TABLE y")
    column = schema.SIGNALS.column("warmup")
    expected = "ALTER TABLE d.t ADD COLUMN warmup Nullable(UInt8)"
    assert schema.add_column("t", column, modern=False, database="d") == expected


@pytest.mark.clickhouse
def test_the_legacy_ddl_is_what_clickhouse_18_16_creates(clickhouse_server: object, clickhouse_database: str) -> None:
    from torghut_embedded.clickhouse import ClickHouseServer

    assert isinstance(clickhouse_server, ClickHouseServer)
    version = clickhouse_server.execute("SELECT version()").strip()
    for statement in schema.ddl(modern=schema.is_modern(version), database=clickhouse_database) * 2:
        clickhouse_server.execute(statement)  # twice: IF NOT EXISTS
    for table in schema.TABLES:
        reported = clickhouse_server.execute(
            f"SELECT name, type FROM system.columns WHERE database = '{clickhouse_database}' "
            f"AND table = '{table.name}' FORMAT JSONEachRow")
        got = [(row["name"], row["type"]) for row in map(json.loads, reported.strip().splitlines())]
        assert got == [(c.name, c.type_sql(modern=schema.is_modern(version))) for c in table.columns]
