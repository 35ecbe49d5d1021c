"""The table classes and the migrated schema agree: a migration and a class that drift apart fail here."""

from __future__ import annotations

from torghut_market_data.adapters.tables import MarketDataTable
from torghut_market_data.app import MIGRATIONS
from torghut_runtime.tables import RuntimeTable
from torghut_runtime.testing import schema_drift


async def test_the_migrations_build_exactly_the_table_classes(fresh_database_url: str) -> None:
    assert await schema_drift(fresh_database_url, "market_data", MIGRATIONS, MarketDataTable.metadata,
                              RuntimeTable.metadata) == []
