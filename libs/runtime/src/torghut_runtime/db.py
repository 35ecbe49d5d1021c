"""Postgres: the service's own schema, its migrations, and the processed-message store.

Each service owns one schema. Connections set ``search_path`` to it, so service tables are
declared unqualified and two services can share a database without seeing each other's tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .tables import ProcessedMessage

_ENV_DIR = Path(__file__).parent / "migrations_env"


def async_database_url(url: str) -> str:
    """Accept ``postgresql://`` too: the driver is always asyncpg."""
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://"):]
    return url


def create_engine(database_url: str, schema: str, *, pool_size: int = 5, max_overflow: int = 10,
                  pool_timeout_s: float = 30.0) -> AsyncEngine:
    return create_async_engine(
        async_database_url(database_url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_s,
        pool_pre_ping=False,  # a ping per checkout costs a round trip per message; a dead connection
        # fails its statement instead, the handler is retried and SQLAlchemy replaces the connection.
        connect_args={"server_settings": {"search_path": schema, "application_name": schema}},
    )


def _alembic_config(versions_dir: Path, schema: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_ENV_DIR))
    config.set_main_option("version_locations", str(versions_dir))
    config.set_main_option("path_separator", "os")
    config.attributes["schema"] = schema
    return config


async def migrate(engine: AsyncEngine, schema: str, versions_dir: Path) -> None:
    """Create the schema if needed and upgrade it to head."""
    config = _alembic_config(versions_dir, schema)

    def upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    async with engine.begin() as conn:
        await conn.run_sync(upgrade)


async def migrations_at_head(engine: AsyncEngine, schema: str, versions_dir: Path) -> bool:
    heads = set(ScriptDirectory.from_config(_alembic_config(versions_dir, schema)).get_heads())

    def current(connection: Connection) -> set[str]:
        context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
        return set(context.get_current_heads())

    async with engine.connect() as conn:
        return await conn.run_sync(current) == heads


def _tracking_columns_at_0001() -> list[sa.Column[Any]]:
    """The tracking table as each service's first migration created it (a migration keeps its own copy;
    the drift test per service holds :class:`~.tables.ProcessedMessage` to it)."""
    return [
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("message_id", sa.Text, primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    ]


processed_messages: sa.Table = ProcessedMessage.__table__  # type: ignore[attr-defined]


# Built once: every consumed message runs these, and building a statement per call cost more than
# its round trip.
_PREVIOUS_OUTPUTS = sa.select(processed_messages.c.outputs).where(
    processed_messages.c.consumer == sa.bindparam("b_consumer"),
    processed_messages.c.message_id == sa.bindparam("b_message_id")).with_for_update()
_PREVIOUS_OUTPUTS_MANY = sa.select(processed_messages.c.message_id, processed_messages.c.outputs).where(
    processed_messages.c.consumer == sa.bindparam("b_consumer"),
    processed_messages.c.message_id.in_(sa.bindparam("b_message_ids", expanding=True)))


# Claims a batch's records in one statement, skipping those already claimed; RETURNING says which
# were new. The arrays are typed so Postgres can plan unnest() once.
_CLAIM_MANY = sa.text(
    'INSERT INTO processed_messages (consumer, message_id, topic, "partition", "offset", outputs, processed_at) '
    "SELECT :b_consumer, u.message_id, u.topic, u.part, u.off, u.outputs, :b_now "
    "FROM unnest(CAST(:b_ids AS TEXT[]), CAST(:b_topics AS TEXT[]), CAST(:b_partitions AS INTEGER[]), "
    "CAST(:b_offsets AS BIGINT[]), CAST(:b_outputs AS TEXT[])) AS u(message_id, topic, part, off, outputs) "
    "ON CONFLICT DO NOTHING RETURNING message_id"
).bindparams(sa.bindparam("b_now", type_=sa.DateTime(timezone=True)))


def create_processed_messages_table() -> None:
    """Call from a service's first migration: the tracking table of :class:`IdempotencyStore`."""
    from alembic import op

    op.create_table("processed_messages", *_tracking_columns_at_0001())


def store_rows_uncompressed(*tables: str) -> None:
    """Call from a migration: rows of ``tables`` under a page (8 KB) are written as they are.

    Postgres compresses a row's long values with pglz once the row passes 2 KB, on every insert and
    update. For hot rows of 2-8 KB of JSON (decisions, runs, tracking records holding them) that
    compression was a quarter of Postgres's time per decision (docs/performance.md, the seventeenth
    session); the rows then take about twice the bytes on disk. lz4 would keep most of both, but not
    every Postgres is built with it."""
    from alembic import op

    for table in tables:
        op.execute(f"ALTER TABLE {table} SET (toast_tuple_target = 8160)")


def store_rows_compressed(*tables: str) -> None:
    """Undo :func:`store_rows_uncompressed` (a migration's downgrade)."""
    from alembic import op

    for table in tables:
        op.execute(f"ALTER TABLE {table} RESET (toast_tuple_target)")


@dataclass(frozen=True)
class StoredOutput:
    """A message a handler produced, kept so a redelivery re-publishes the very same bytes."""

    topic: str
    key: str | None
    value: str
    headers: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "key": self.key, "value": self.value, "headers": self.headers}


class IdempotencyStore:
    """Tracking records: a message's effects and its 'processed' mark commit in one transaction.

    A redelivered message finds its mark and gets back the outputs it produced the first time,
    which are published again (same message ids, so downstream deduplicates them) instead of
    running the handler twice. This is what makes a crash between commit and publish harmless.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def prune(self, older_than: datetime) -> int:
        """Forget tracking records older than any message a topic still holds (they can't be replayed)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                processed_messages.delete().where(processed_messages.c.processed_at < older_than))
        return int(result.rowcount or 0)

    @staticmethod
    async def previous_outputs(conn: AsyncConnection, consumer: str, message_id: str) -> list[StoredOutput] | None:
        row = (await conn.execute(_PREVIOUS_OUTPUTS, {"b_consumer": consumer, "b_message_id": message_id})).first()
        if row is None:
            return None
        return [StoredOutput(**item) for item in json.loads(row.outputs)]

    @staticmethod
    async def previous_outputs_many(conn: AsyncConnection, consumer: str,
                                    message_ids: Sequence[str]) -> dict[str, list[StoredOutput]]:
        if not message_ids:
            return {}
        rows = await conn.execute(_PREVIOUS_OUTPUTS_MANY,
                                  {"b_consumer": consumer, "b_message_ids": sorted(set(message_ids))})
        return {row.message_id: [StoredOutput(**item) for item in json.loads(row.outputs)] for row in rows}

    @staticmethod
    async def mark_processed_many(conn: AsyncConnection, consumer: str,
                                  processed: Sequence[tuple[Any, Sequence[StoredOutput]]]) -> None:
        """One insert for a batch: ``(inbound, outputs)`` pairs (``inbound`` is a kafka ``Inbound``)."""
        if not processed:
            return
        now = datetime.now(UTC)
        await conn.execute(processed_messages.insert(), [
            {"consumer": consumer, "message_id": inbound.headers.message_id, "topic": inbound.topic,
             "partition": inbound.partition, "offset": inbound.offset,
             "outputs": json.dumps([o.as_json() for o in outputs]), "processed_at": now}
            for inbound, outputs in processed])

    @staticmethod
    async def claim_processed_many(conn: AsyncConnection, consumer: str,
                                   processed: Sequence[tuple[Any, Sequence[StoredOutput]]]) -> int:
        """Mark ``(inbound, outputs)`` pairs processed, skipping any already marked; how many were new.

        Fewer than ``len(processed)`` means a record was processed before, and the caller must roll
        back the work it did for it."""
        if not processed:
            return 0
        rows = await conn.execute(_CLAIM_MANY, {
            "b_consumer": consumer, "b_now": datetime.now(UTC),
            "b_ids": [inbound.headers.message_id for inbound, _ in processed],
            "b_topics": [inbound.topic for inbound, _ in processed],
            "b_partitions": [inbound.partition for inbound, _ in processed],
            "b_offsets": [inbound.offset for inbound, _ in processed],
            "b_outputs": [json.dumps([o.as_json() for o in outputs]) for _, outputs in processed]})
        return len(rows.fetchall())

    @staticmethod
    async def mark_processed(conn: AsyncConnection, consumer: str, message_id: str, *, topic: str, partition: int,
                             offset: int, outputs: Sequence[StoredOutput]) -> None:
        await conn.execute(processed_messages.insert(), {
            "consumer": consumer, "message_id": message_id, "topic": topic, "partition": partition,
            "offset": offset, "outputs": json.dumps([o.as_json() for o in outputs]), "processed_at": datetime.now(UTC),
        })
