"""Test tools for services: settings for a real broker and database, produce and read raw records.

Integration tests run against the real Tansu broker and Postgres that ``torghut_embedded``'s pytest
fixtures start; these helpers only save each service's tests from writing the same aiokafka code.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine
from torghut_contracts.headers import MessageHeaders, header_dict
from torghut_contracts.topics import TopicSpec

from .db import StoredOutput
from .settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)

async def eventually(condition: Callable[[], object], *, what: str = "condition", timeout: float = 20.0,
                     interval: float = 0.05) -> None:
    """Poll ``condition`` (a plain or an async callable) until it is true; fail naming ``what`` after
    ``timeout`` seconds. Tests wait for a state this way, never by sleeping a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def migrated_engine(database_url: str, schema: str, migrations: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on ``schema``, migrated by ``migrations``, disposed of on exit: what tests that call a
    service's store or handlers directly, without its runtime, need."""
    from .db import create_engine, migrate

    engine = create_engine(database_url, schema)
    try:
        await migrate(engine, schema, migrations)
        yield engine
    finally:
        await engine.dispose()


async def schema_drift(database_url: str, schema: str, migrations: Path, *metadata: sa.MetaData) -> list[Any]:
    """Every difference between the schema the migrations build and the table classes' ``metadata``;
    ``[]`` when they agree. Each service's ``tests/integration/test_tables.py`` asserts that.

    Two comparisons, in one fresh database: Alembic's ``compare_metadata`` (tables, columns, types,
    nullability, keys, uniques, foreign keys, comments) of the migrated ``schema``; and, for what
    it does not compare (server defaults, check constraints, index predicates), what Postgres
    reports for the migrated schema against a schema created from the classes, each difference as
    ``("catalog", (table, kind, name), migrated, from the classes)``."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from .db import migrate

    wanted = sa.MetaData()
    for each in metadata:
        for table in each.tables.values():
            table.to_metadata(wanted)

    def compare(connection: sa.Connection) -> tuple[list[Any], Catalog]:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True,
            "include_name": lambda name, kind, _parent: not (kind == "table" and name == "alembic_version")})
        return list(compare_metadata(context, wanted)), _catalog(connection)

    async def create(engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'CREATE SCHEMA "{schema}_from_classes"'))
            await conn.run_sync(wanted.create_all)

    differences, migrated = await _inspect(database_url, schema, lambda engine: migrate(engine, schema, migrations),
                                           compare)
    created = await _inspect(database_url, f"{schema}_from_classes", create, _catalog)
    return differences + [("catalog", key, migrated.get(key), created.get(key))
                          for key in sorted(migrated.keys() | created.keys(), key=str)
                          if migrated.get(key) != created.get(key)]


async def uncompressed_tables(engine: AsyncEngine) -> set[str]:
    """The tables of ``engine``'s schema whose rows are written uncompressed up to a page
    (:func:`~torghut_runtime.db.store_rows_uncompressed`)."""
    async with engine.connect() as conn:
        rows = await conn.execute(sa.text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND 'toast_tuple_target=8160' = ANY(c.reloptions)"))
        return {row.relname for row in rows}


Catalog = dict[tuple[str, str, str], Any]
"""``(table, kind, name) -> value``: what Postgres reports for each server default, check and index."""
T = TypeVar("T")


async def _inspect(database_url: str, schema: str, prepare: Callable[[AsyncEngine], Awaitable[None]],
                   read: Callable[[sa.Connection], T]) -> T:
    from .db import create_engine

    engine = create_engine(database_url, schema, pool_size=1)
    try:
        await prepare(engine)
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


def _catalog(connection: sa.Connection) -> Catalog:
    """Flat, so a failed comparison names the very item that differs."""
    inspector = sa.inspect(connection)
    catalog: Catalog = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        for column in inspector.get_columns(table):
            catalog[table, "server default", column["name"]] = column["default"]
        for check in inspector.get_check_constraints(table):
            catalog[table, "check", str(check["name"])] = check["sqltext"]
        for index in inspector.get_indexes(table):
            catalog[table, "index", str(index["name"])] = (
                tuple(index["column_names"]), index.get("dialect_options", {}).get("postgresql_where"))
    return catalog


FAST_KAFKA = {
    "kafka_session_timeout_ms": 1000,
    "kafka_heartbeat_interval_ms": 200,
    "kafka_fetch_max_wait_ms": 20,
    "consumer_retry_backoff_ms": 10,
    "graceful_timeout_s": 5.0,
}


def test_settings(settings_cls: type[S], *, kafka_bootstrap: str, database_url: str, topic_prefix: str,
                  service_name: str, **overrides: Any) -> S:
    """Settings pointing at the test broker and database, with fast group joins (platform notes)."""
    values: dict[str, Any] = {**FAST_KAFKA, "service_name": service_name, "kafka_bootstrap_servers": kafka_bootstrap,
                              "database_url": database_url, "topic_prefix": topic_prefix, "http_port": 0}
    values.update(overrides)
    return settings_cls(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, str]
    timestamp_ms: int

    def model(self, spec: TopicSpec[Any]) -> Any:
        return spec.decode(self.value)


async def produce(bootstrap: str, topic: str, value: bytes | BaseModel, *, key: str | None = None,
                  headers: dict[str, str] | MessageHeaders | None = None) -> None:
    if isinstance(headers, MessageHeaders):
        headers = headers.as_dict()
    body = value.model_dump_json().encode() if isinstance(value, BaseModel) else value
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, body, key=key.encode() if key is not None else None,
                                     headers=[(k, v.encode()) for k, v in (headers or {}).items()])
    finally:
        await producer.stop()


async def read_records(bootstrap: str, topic: str, *, expect: int, timeout: float = 20.0,
                       settle: float = 0.0) -> list[Record]:
    """Read a topic from the beginning until ``expect`` records arrived (or time ran out).

    With ``settle`` > 0 it keeps listening that long after reaching ``expect``, so a test can prove
    that no extra (duplicate) record follows.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    await consumer.start()
    try:
        partitions: Sequence[int] = []
        deadline = time.monotonic() + timeout
        while not partitions and time.monotonic() < deadline:
            partitions = sorted(consumer.partitions_for_topic(topic) or [])
            if not partitions:
                await consumer.force_metadata_update()  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[Record] = []
        settle_until: float | None = None
        while time.monotonic() < deadline:
            if len(out) >= expect:
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    break
            batch = await consumer.getmany(timeout_ms=50)
            for items in batch.values():
                for r in items:
                    out.append(Record(r.topic, r.partition, r.offset,
                                      r.key.decode() if r.key is not None else None, r.value or b"",
                                      header_dict(r.headers), r.timestamp))
        return out
    finally:
        await consumer.stop()


async def create_topics_for(bootstrap: str, prefix: str, *specs: TopicSpec[Any], partitions: int = 1) -> list[str]:
    """Create ``prefix + topic`` and its DLQ for each spec (tests isolate themselves by prefix)."""
    from torghut_embedded.kafka import create_test_topics

    names = [prefix + spec.name for spec in specs]
    names += [name + ".dlq" for name in names]
    await create_test_topics(bootstrap, names, partitions=partitions)
    return names


def flag_features(**values: bool) -> str:
    """A features.yaml (Flipt's format) with boolean flags by key, for ``flags_server.write(...)``."""
    lines = ["namespace: default", "flags:"]
    for key, enabled in values.items():
        lines += [f"  - key: {key}", "    type: BOOLEAN_FLAG_TYPE", f"    enabled: {str(enabled).lower()}"]
    return "\n".join(lines) + "\n"


def flag_settings(url: str, **overrides: Any) -> Any:
    """Flags enabled against ``url`` with a fast refresh, for tests."""
    from .flags import FeatureFlagSettings

    return FeatureFlagSettings(enabled=True, url=url, refresh_interval_s=overrides.pop("refresh_interval_s", 0.05),
                               **overrides)


def flag_state(registry: Any, key: str) -> bool | None:
    """A flag's current value as a service's metrics show it (``torghut_feature_flag_value``)."""
    value = registry.get_sample_value("torghut_feature_flag_value", {"flag": key})
    return None if value is None else bool(value)


def counter_total(metrics_text: str, family: str) -> float:
    """The sum of a counter family's ``_total`` samples, every label set, in a ``/metrics`` page (a
    service in its own process: its registry is out of reach)."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(sample.value for each in text_string_to_metric_families(metrics_text) if each.name == family
               for sample in each.samples if sample.name.endswith("_total"))


class UnreachableBroker:
    """An outbox's sends with the broker gone (``outbox.sends = UnreachableBroker()``): every send fails."""

    async def send(self, output: StoredOutput) -> asyncio.Future[Any]:
        raise ConnectionError("the broker went away")

    async def confirm(self, sent: Sequence[tuple[StoredOutput, asyncio.Future[Any]]]) -> None:
        raise AssertionError("nothing can have been sent")
