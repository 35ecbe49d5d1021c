"""The table classes and the migrated schema agree: a migration and a class that drift apart fail here."""

from __future__ import annotations

from torghut_runtime.tables import RuntimeTable
from torghut_runtime.testing import schema_drift
from torghut_ta.adapters.tables import TaTable
from torghut_ta.app import MIGRATIONS


async def test_the_migrations_build_exactly_the_table_classes(fresh_database_url: str) -> None:
    assert await schema_drift(fresh_database_url, "ta", MIGRATIONS, TaTable.metadata, RuntimeTable.metadata) == []
