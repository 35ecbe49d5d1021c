"""The migrated schema is exactly the runtime's tracking table: the sink keeps no Postgres state of its own."""

from __future__ import annotations

from torghut_clickhouse_sink.adapters.tables import SinkTable
from torghut_clickhouse_sink.app import MIGRATIONS
from torghut_runtime.tables import RuntimeTable
from torghut_runtime.testing import schema_drift


async def test_the_migrations_build_exactly_the_table_classes(fresh_database_url: str) -> None:
    assert await schema_drift(fresh_database_url, "clickhouse_sink", MIGRATIONS, SinkTable.metadata,
                              RuntimeTable.metadata) == []
