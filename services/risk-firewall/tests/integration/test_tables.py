"""The table classes and the migrated schema agree: a migration and a class that drift apart fail here."""

from __future__ import annotations

from torghut_risk_firewall.adapters.tables import FirewallTable
from torghut_risk_firewall.app import MIGRATIONS
from torghut_runtime.tables import RuntimeTable
from torghut_runtime.testing import schema_drift


async def test_the_migrations_build_exactly_the_table_classes(fresh_database_url: str) -> None:
    assert await schema_drift(fresh_database_url, "risk_firewall", MIGRATIONS, FirewallTable.metadata,
                              RuntimeTable.metadata) == []
