"""The session stack from the pytest plugin: real Tansu and real Postgres answer and isolate tests."""

from __future__ import annotations

import asyncio
import json
import sys
import types
from dataclasses import dataclass, field

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from torghut_embedded import (
    EmbeddedStack,
    StackAlreadyRunning,
    create_default_topics,
    create_topics,
    list_topics,
    run_blocking,
)
from torghut_embedded.postgres import plain_dsn
from torghut_embedded.pytest_plugin import FAST_CONSUMER_SETTINGS, TANSU_PRODUCER_SETTINGS, create_test_topics

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Spec:
    """Duck-typed like ``torghut_contracts.topics`` specs: name, partitions, config, dlq."""

    name: str
    partitions: int = 1
    config: dict[str, str] = field(default_factory=dict)
    dlq: Spec | None = None


def test_connection_settings_are_written(embedded_stack: EmbeddedStack) -> None:
    env_lines = embedded_stack.env_file.read_text().splitlines()
    assert env_lines == [
        f"KAFKA_BOOTSTRAP_SERVERS={embedded_stack.kafka_bootstrap}",
        f"DATABASE_URL={embedded_stack.database_url}",
    ]
    assert embedded_stack.kafka_bootstrap.startswith("127.0.0.1:")
    assert embedded_stack.database_url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
    assert embedded_stack.database_url.endswith("/postgres")
    recorded = json.loads(embedded_stack.json_file.read_text())
    assert recorded["state"] == "running"
    assert recorded["pids"] == embedded_stack.pids
    assert set(embedded_stack.pids) == {"kafka", "postgres"}
    assert all(embedded_stack.info.alive().values())


def test_second_stack_on_same_dir_is_refused(embedded_stack: EmbeddedStack) -> None:
    with pytest.raises(StackAlreadyRunning, match="torghut-infra down"):
        EmbeddedStack(embedded_stack.data_dir).start()


@pytest.mark.asyncio
async def test_message_round_trips_with_key_and_headers(kafka_bootstrap: str, topic_namespace: str) -> None:
    topic = f"{topic_namespace}roundtrip"
    assert await create_test_topics(kafka_bootstrap, [topic], partitions=2) == [topic]
    headers = [("message-id", b"m-1"), ("traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01")]

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, **TANSU_PRODUCER_SETTINGS)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b'{"symbol": "AAPL"}', key=b"AAPL", headers=headers)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic_namespace}group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **FAST_CONSUMER_SETTINGS,
    )
    await consumer.start()
    try:
        msg = await asyncio.wait_for(consumer.getone(), timeout=15)
    finally:
        await consumer.stop()
    assert (msg.key, msg.value) == (b"AAPL", b'{"symbol": "AAPL"}')
    assert list(msg.headers) == headers
    assert (msg.partition, msg.offset) == (sent.partition, sent.offset)


@pytest.mark.asyncio
async def test_create_topics_takes_specs_with_dlq_and_config(kafka_bootstrap: str, topic_namespace: str) -> None:
    control = Spec(
        f"{topic_namespace}control.v1",
        partitions=1,
        config={"cleanup.policy": "compact"},
        dlq=Spec(f"{topic_namespace}control.v1.dlq"),
    )
    signals = Spec(f"{topic_namespace}signals.v1", partitions=3, dlq=Spec(f"{topic_namespace}signals.v1.dlq"))
    created = await create_topics(kafka_bootstrap, [control, signals])
    assert sorted(created) == sorted([control.name, signals.name, f"{control.name}.dlq", f"{signals.name}.dlq"])
    # Running it again (e.g. a second `up` against a live broker) is fine.
    assert sorted(await create_topics(kafka_bootstrap, [control, signals])) == sorted(created)

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics([signals.name])}
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, control.name)])
    finally:
        await admin.close()
    assert described == {signals.name: 3}
    entries = {e[0]: e[1] for e in configs[0].resources[0][4]}
    assert entries["cleanup.policy"] == "compact"


@pytest.mark.asyncio
async def test_default_topics_come_from_the_contracts_registry(
    kafka_bootstrap: str, topic_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torghut_contracts

    name = f"{topic_namespace}torghut.test.v1"
    fake = types.ModuleType("torghut_contracts.topics")
    fake.all_topic_specs = lambda: [Spec(name, dlq=Spec(f"{name}.dlq"))]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torghut_contracts.topics", fake)
    monkeypatch.setattr(torghut_contracts, "topics", fake, raising=False)

    assert await create_default_topics(kafka_bootstrap) == [name, f"{name}.dlq"]
    assert {name, f"{name}.dlq"} <= set(await list_topics(kafka_bootstrap))


@pytest.mark.asyncio
async def test_postgres_answers_over_loopback_tcp(database_url: str) -> None:
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT inet_server_addr()::text") == "127.0.0.1/32"
        assert int(await conn.fetchval("SHOW server_version_num")) >= 160000
    finally:
        await conn.close()


@pytest.mark.asyncio
async def test_fresh_database_is_isolated(fresh_database_url: str, database_url: str) -> None:
    assert fresh_database_url != database_url
    assert fresh_database_url.startswith("postgresql+asyncpg://")
    conn = await asyncpg.connect(plain_dsn(fresh_database_url))
    try:
        await conn.execute("CREATE TABLE processed (message_id text PRIMARY KEY)")
        await conn.execute("INSERT INTO processed VALUES ('m-1')")
        assert await conn.fetchval("SELECT current_database()") == fresh_database_url.rsplit("/", 1)[1]
    finally:
        await conn.close()
    admin = await asyncpg.connect(plain_dsn(database_url))
    try:
        assert await admin.fetchval("SELECT to_regclass('processed')") is None
    finally:
        await admin.close()


@pytest.mark.asyncio
async def test_blocking_helpers_work_inside_a_running_loop(kafka_bootstrap: str) -> None:
    # EmbeddedStack's sync lifecycle is usable from async code: run_blocking uses a helper thread.
    assert isinstance(run_blocking(list_topics(kafka_bootstrap)), list)


@pytest.mark.asyncio
async def test_contract_topics_and_dlqs_exist(kafka_bootstrap: str, torghut_topics: list[str]) -> None:
    from torghut_contracts.topics import all_topic_specs

    specs = list(all_topic_specs())
    expected = {s.name for s in specs} | {s.dlq.name for s in specs}
    assert set(torghut_topics) == expected
    assert expected <= set(await list_topics(kafka_bootstrap))
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([s.name for s in specs])
    finally:
        await admin.close()
    assert {t["topic"]: len(t["partitions"]) for t in described} == {s.name: s.partitions for s in specs}
