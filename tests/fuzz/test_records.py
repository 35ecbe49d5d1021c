"""Mutated records on every topic, through the real runtime on the real broker and Postgres.

One service consumes all ten topics (the runtime every service is built on: lanes, retries,
dead-lettering, tracking records) with a handler that stores what it was given as JSONB. Hypothesis
sends batches of hostile records, each record a topic's example broken one way (or its headers
broken: another schema, an unusable id). After each batch:

* every record was handled or dead-lettered, never both, never neither (nothing acknowledged and
  then lost, no partition stuck behind a record it cannot get past);
* a handled record is valid for its topic, and was handled once;
* a dead letter names a known reason, and a record the contract refuses went there as
  ``malformed``/``schema``; its copy fits the producer's limit;
* no lane is stalled, so no retry went on without end;
* the process's memory stayed bounded.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.examples import example
from torghut_contracts.headers import header_dict
from torghut_runtime import Inbound, Outgoing, ServiceRuntime, ServiceSettings
from torghut_runtime.dead_letters import RECORD_BUDGET
from torghut_runtime.testing import create_topics_for, test_settings

from .mutations import mutated

pytestmark = pytest.mark.fuzz

MIGRATIONS = Path(__file__).parent / "migrations"
REASONS = {"malformed", "schema", "schema_mismatch", "headers", "handler_error"}
SPECS = topics.ALL_TOPICS
VALID = {spec.name: spec.model.model_validate_json(spec.encode(example(spec.name))).model_dump(mode="json")
         for spec in SPECS}


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class DeadLetters:
    """Follows every DLQ topic from the start: (original topic, offset) -> (reason, value size, headers)."""

    def __init__(self, bootstrap: str, names: list[str]) -> None:
        self.consumer = AIOKafkaConsumer(*names, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                         enable_auto_commit=False, group_id=None, fetch_max_wait_ms=20,
                                         max_partition_fetch_bytes=2 * 1_048_576)
        self.seen: dict[tuple[str, int], tuple[str, int, dict[str, str]]] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self.task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            for records in (await self.consumer.getmany(timeout_ms=100)).values():
                for r in records:
                    values = header_dict(r.headers)
                    where = (values[h.DLQ_ORIGINAL_TOPIC], int(values[h.DLQ_ORIGINAL_OFFSET]))
                    self.seen[where] = (values[h.DLQ_REASON], len(r.value or b""), values)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.consumer.stop()


@pytest.fixture
async def consuming(kafka_bootstrap: str, fresh_database_url: str,
                    topic_namespace: str) -> AsyncIterator[tuple[ServiceRuntime, DeadLetters, str]]:
    await create_topics_for(kafka_bootstrap, topic_namespace, *SPECS)
    settings = test_settings(ServiceSettings, kafka_bootstrap=kafka_bootstrap, database_url=fresh_database_url,
                             topic_prefix=topic_namespace, service_name="fuzz", consumer_max_attempts=2,
                             consumer_retry_backoff_ms=10)
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, configure_logs=False)

    def store(spec: topics.TopicSpec[Any]) -> Any:
        async def handle(inbound: Inbound[Any], conn: AsyncConnection) -> list[Outgoing]:
            await conn.execute(sa.text("INSERT INTO handled (topic, record_offset, body) VALUES (:t, :o, :b)"),
                               {"t": inbound.topic, "o": inbound.offset, "b": spec.encode(inbound.payload).decode()})
            return []
        return handle

    for index, spec in enumerate(SPECS):
        runtime.consume(spec, store(spec), **({"batch": 50} if index % 3 == 0 else {}))
    dead = DeadLetters(kafka_bootstrap, [topic_namespace + spec.name + ".dlq" for spec in SPECS])
    await dead.start()
    async with runtime.running():
        yield runtime, dead, topic_namespace
    await dead.stop()


HEADER_BREAKS = st.sampled_from(["none", "none", "none", "none", "no-schema", "other-schema", "long-id", "nul-id"])


def headers_for(spec: topics.TopicSpec[Any], brk: str) -> dict[str, str]:
    values = {h.MESSAGE_ID: f"fuzz-{uuid.uuid4().hex}", h.SCHEMA: spec.name}
    if brk == "no-schema":
        del values[h.SCHEMA]
    elif brk == "other-schema":
        values[h.SCHEMA] = spec.name.replace(".v1", ".v2")
    elif brk == "long-id":
        values[h.MESSAGE_ID] = "m" * 300
    elif brk == "nul-id":
        values[h.CORRELATION_ID] = "req\x00"
    return values


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[topics.TopicSpec[Any], bytes, dict[str, str]]]:
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=10))):
        spec = draw(st.sampled_from(SPECS))
        out.append((spec, draw(mutated(VALID[spec.name], big=1_040_000)), headers_for(spec, draw(HEADER_BREAKS))))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=batches())
async def test_every_hostile_record_is_handled_once_or_dead_lettered_with_its_reason(
        kafka_bootstrap: str, consuming: tuple[ServiceRuntime, DeadLetters, str],
        batch: list[tuple[topics.TopicSpec[Any], bytes, dict[str, str]]]) -> None:
    runtime, dead, prefix = consuming
    baseline = rss_mb()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=2 * 1_048_576)
    await producer.start()
    sent: dict[tuple[str, int], tuple[topics.TopicSpec[Any], bytes, dict[str, str]]] = {}
    try:
        for spec, value, values in batch:
            meta = await producer.send_and_wait(prefix + spec.name, value, key=b"k",
                                                headers=[(k, v.encode()) for k, v in values.items()])
            sent[(prefix + spec.name, meta.offset)] = (spec, value, values)
    finally:
        await producer.stop()

    async def handled() -> dict[tuple[str, int], int]:
        async with runtime.engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT topic, record_offset, count(*) FROM handled GROUP BY 1, 2"))
            return {(topic, offset): count for topic, offset, count in rows}

    for _ in range(600):
        done = await handled()
        if all(where in done or where in dead.seen for where in sent):
            break
        await asyncio.sleep(0.05)
    done = await handled()
    missing = [where for where in sent if where not in done and where not in dead.seen]
    assert not missing, f"neither handled nor dead-lettered: {missing}"
    for where, (spec, value, values) in sent.items():
        assert not (where in done and where in dead.seen), f"{where} both handled and dead-lettered"
        refused = _refused(spec, value, values)
        if where in done:
            assert done[where] == 1, f"{where} handled {done[where]} times"
            assert refused is None, f"{where} handled although {refused}"
        else:
            reason, size, dlq_headers = dead.seen[where]
            assert reason in REASONS, reason
            assert size <= RECORD_BUDGET
            if size < len(value):
                assert dlq_headers[h.DLQ_TRUNCATED_FROM] == str(len(value))
            if refused is not None:
                assert reason == refused, f"{where}: {reason} where {refused} was due"
    assert runtime.kafka.stalled_lanes() == [] and runtime.kafka.crashed_lanes() == []
    assert rss_mb() - baseline < 400, "memory grew with the batch"


def _refused(spec: topics.TopicSpec[Any], value: bytes, values: dict[str, str]) -> str | None:
    """The reason the runtime must give before any handler runs, or None for a record it must hand over."""
    if values.get(h.SCHEMA, spec.name) != spec.name:
        return "schema_mismatch"
    if h.id_header_problem(values) is not None:
        return "headers"
    try:
        spec.decode(value)
    except ValidationError as exc:
        return "malformed" if any(e["type"] == "json_invalid" for e in exc.errors()) else "schema"
    return None
