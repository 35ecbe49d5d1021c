"""The table classes and the migrated schema agree: a migration and a class that drift apart fail here.

The engine keeps no tracking records (it consumes no topic), so its schema has no ``processed_messages``.
"""

from __future__ import annotations

from torghut_decision_engine.adapters.tables import DecisionEngineTable
from torghut_decision_engine.app import MIGRATIONS
from torghut_runtime.testing import migrated_engine, schema_drift, uncompressed_tables


async def test_the_migrations_build_exactly_the_table_classes(fresh_database_url: str) -> None:
    assert await schema_drift(fresh_database_url, "decision_engine", MIGRATIONS, DecisionEngineTable.metadata) == []


async def test_runs_and_their_events_are_written_uncompressed(fresh_database_url: str) -> None:
    async with migrated_engine(fresh_database_url, "decision_engine", MIGRATIONS) as engine:
        assert await uncompressed_tables(engine) == {"runs", "run_events"}
