"""The table classes and the migrated schema agree: a migration and a class that drift apart fail here."""

from __future__ import annotations

from torghut_decision_client.adapters.tables import DecisionClientTable
from torghut_decision_client.app import MIGRATIONS
from torghut_runtime.tables import RuntimeTable
from torghut_runtime.testing import migrated_engine, schema_drift, uncompressed_tables


async def test_the_migrations_build_exactly_the_table_classes(fresh_database_url: str) -> None:
    assert await schema_drift(fresh_database_url, "decision_client", MIGRATIONS, DecisionClientTable.metadata,
                              RuntimeTable.metadata) == []


async def test_decisions_and_tracking_records_are_written_uncompressed(fresh_database_url: str) -> None:
    async with migrated_engine(fresh_database_url, "decision_client", MIGRATIONS) as engine:
        assert await uncompressed_tables(engine) == {"decisions", "processed_messages"}
