"""clickhouse-sink's Postgres tables: none of its own.

The service keeps no state but the runtime's tracking records (``processed_messages``, the
runtime's :class:`~torghut_runtime.tables.RuntimeTable`), which its first migration creates. Its
rows live in ClickHouse, whose tables are defined once in :mod:`torghut_strategies.clickhouse.schema`
(shared with the production init script and signal-trigger's tests) and created by the service at
start-up (:mod:`.clickhouse`). The base is here so a table of its own, if one comes, has its place,
and so ``tests/integration/test_tables.py`` holds the migrations to exactly the runtime's table.
"""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class SinkTable(SQLModel, registry=registry()):
    """Base of clickhouse-sink's tables: a metadata of their own (empty)."""
