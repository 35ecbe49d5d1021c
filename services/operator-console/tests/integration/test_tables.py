"""The migrated schema is exactly the table classes plus the runtime's tracking table."""

from __future__ import annotations

from torghut_operator_console.adapters.tables import ConsoleTable
from torghut_operator_console.app import MIGRATIONS
from torghut_runtime.tables import RuntimeTable
from torghut_runtime.testing import schema_drift


async def test_the_migrations_build_exactly_the_table_classes(fresh_database_url: str) -> None:
    assert await schema_drift(fresh_database_url, "operator_console", MIGRATIONS, ConsoleTable.metadata,
                              RuntimeTable.metadata) == []
