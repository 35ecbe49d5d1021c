"""Dead letters in the Kafka wiring, against the real Tansu broker and a real Postgres.

A poison message lands in the DLQ with its headers while the next message flows; one just under the
size limit is cut to fit; a record labelled with another schema or with unusable ids is
dead-lettered, and so is one whose handler publishes to a topic its service did not declare (the
service's AsyncAPI document lists what it declared).
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.models import TaSignal
from torghut_runtime import Inbound, Outgoing
from torghut_runtime.kafka import UndeclaredTopic
from torghut_runtime.testing import produce, read_records

from .conftest import committed_groups, make_runtime, signal, trigger_for


async def test_poison_messages_go_to_the_dlq_and_the_partition_keeps_moving(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str, mode: dict[str, int]) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix, consumer_max_attempts=3)
    seen: list[int] = []

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        if inbound.payload.seq == 666:
            raise ValueError("this one always fails")
        seen.append(inbound.payload.seq)
        return []

    runtime.consume(topics.TA_SIGNALS, handle, **mode)
    source = prefix + topics.TA_SIGNALS.name
    async with runtime.running():
        await produce(kafka_bootstrap, source, b"{not json", key="AAPL", headers={"x-origin": "test"})
        await produce(kafka_bootstrap, source, json.dumps({"symbol": "aapl", "seq": 1}).encode(), key="AAPL")
        await produce(kafka_bootstrap, source, signal(666), key="AAPL")
        await produce(kafka_bootstrap, source, signal(2), key="AAPL")
        dead = await read_records(kafka_bootstrap, source + ".dlq", expect=3, settle=0.3)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.05)
        assert seen == [2]
        dlq_metric = runtime.metrics.dead_lettered
        assert dlq_metric.labels(topic=topics.TA_SIGNALS.name, reason="malformed")._value.get() == 1
        assert dlq_metric.labels(topic=topics.TA_SIGNALS.name, reason="schema")._value.get() == 1
        assert dlq_metric.labels(topic=topics.TA_SIGNALS.name, reason="handler_error")._value.get() == 1

    assert [r.headers[h.DLQ_REASON] for r in dead] == ["malformed", "schema", "handler_error"]
    assert dead[0].value == b"{not json" and dead[0].key == "AAPL"
    assert dead[0].headers["x-origin"] == "test", "original headers are kept"
    assert [int(r.headers[h.DLQ_ORIGINAL_OFFSET]) for r in dead] == [0, 1, 2]
    assert {r.headers[h.DLQ_ORIGINAL_TOPIC] for r in dead} == {source}
    assert dead[0].headers[h.DLQ_ORIGINAL_PARTITION] == "0"
    assert "symbol" in dead[1].headers[h.DLQ_ERROR]
    assert dead[2].headers[h.DLQ_ATTEMPTS] == "3"
    assert "this one always fails" in dead[2].headers[h.DLQ_ERROR]


async def test_poison_just_under_the_size_limit_is_dead_lettered_cut_to_fit(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str, mode: dict[str, int]) -> None:
    """The copy plus the DLQ's headers would be over the producer's limit: it is cut, says so, and
    the records behind it are handled once each."""
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    seen: list[int] = []

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        seen.append(inbound.payload.seq)
        return [Outgoing(topics.TRIGGERS, trigger_for(inbound.payload))]

    runtime.consume(topics.TA_SIGNALS, handle, **mode)
    source = prefix + topics.TA_SIGNALS.name
    poison = b"{" + b"x" * (1_048_576 - 2048)
    async with runtime.running():
        await produce(kafka_bootstrap, source, signal(1), key="AAPL")
        await produce(kafka_bootstrap, source, poison, key="AAPL", headers={"x-origin": "fuzz"})
        await produce(kafka_bootstrap, source, signal(2), key="AAPL")
        (dead,) = await read_records(kafka_bootstrap, source + ".dlq", expect=1, settle=0.3)
        triggers = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=2, settle=0.5)
    assert seen == [1, 2]
    assert len(triggers) == 2, "nothing handled twice, nothing republished"
    assert dead.headers[h.DLQ_REASON] == "malformed"
    assert dead.headers[h.DLQ_TRUNCATED_FROM] == str(len(poison))
    assert dead.headers[h.DLQ_ORIGINAL_SHA256] == hashlib.sha256(poison).hexdigest()
    assert poison.startswith(dead.value) and len(dead.value) > 1_000_000
    assert dead.headers["x-origin"] == "fuzz"


async def test_a_record_labelled_with_another_schema_or_unusable_ids_is_dead_lettered(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str, mode: dict[str, int]) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix, name="schema-test")
    seen: list[int] = []

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        seen.append(inbound.payload.seq)
        return [Outgoing(topics.TRIGGERS, trigger_for(inbound.payload))]

    runtime.consume(topics.TA_SIGNALS, handle, **mode)
    source = prefix + topics.TA_SIGNALS.name
    async with runtime.running():
        await produce(kafka_bootstrap, source, signal(1), key="AAPL", headers={h.SCHEMA: "torghut.ta.signals.v2"})
        await produce(kafka_bootstrap, source, signal(2), key="AAPL", headers={h.SCHEMA: topics.TRIGGERS.name})
        await produce(kafka_bootstrap, source, signal(3), key="AAPL", headers={h.MESSAGE_ID: "m" * 500})
        await produce(kafka_bootstrap, source, signal(4), key="AAPL", headers={h.CORRELATION_ID: "req\x00x"})
        await produce(kafka_bootstrap, source, signal(5), key="AAPL")  # no x-schema: read as this topic's
        await produce(kafka_bootstrap, source, signal(6), key="AAPL", headers={h.SCHEMA: topics.TA_SIGNALS.name})
        dead = await read_records(kafka_bootstrap, source + ".dlq", expect=4, settle=0.3)
        (first, second) = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=2, settle=0.3)
    assert seen == [5, 6]
    assert [r.headers[h.DLQ_REASON] for r in dead] == ["schema_mismatch", "schema_mismatch", "headers", "headers"]
    assert "torghut.ta.signals.v2" in dead[0].headers[h.DLQ_ERROR]
    assert {r.headers[h.DLQ_CONSUMER] for r in dead} == set(await committed_groups(kafka_bootstrap, prefix)), \
        "the Kafka group that read the records"
    for output in (first, second):  # FastStream's own headers agree with ours
        assert output.headers["content-type"] == "application/json"
        assert output.headers["correlation_id"] == output.headers[h.CORRELATION_ID]


async def test_a_service_publishes_only_what_it_declared_and_serves_its_asyncapi(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix, consumer_max_attempts=2)

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        return [Outgoing(topics.DECISIONS, inbound.payload)]  # not declared by this service

    runtime.consume(topics.TA_SIGNALS, handle)
    transport = httpx.ASGITransport(app=runtime.asgi())
    async with runtime.running(), httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(3), key="AAPL")
        (dead,) = await read_records(kafka_bootstrap, prefix + topics.TA_SIGNALS.name + ".dlq", expect=1)
        assert "did not declare" in dead.headers[h.DLQ_ERROR] and topics.DECISIONS.name in dead.headers[h.DLQ_ERROR]
        with pytest.raises(UndeclaredTopic, match=topics.DECISIONS.name):
            await runtime.publish(topics.DECISIONS, trigger_for(signal(4)))
        document = (await client.get("/asyncapi.json")).json()
        assert (await client.get("/asyncapi.yaml")).headers["content-type"].startswith("application/yaml")
    actions = {(channel["address"], operation["action"]) for operation in document["operations"].values()
               for channel in [document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]]}
    assert {(prefix + topics.TA_SIGNALS.name, "receive"), (prefix + topics.TRIGGERS.name, "send"),
            (prefix + topics.TA_SIGNALS.name + ".dlq", "send")} <= actions
    assert (prefix + topics.DECISIONS.name, "send") not in actions
    payloads = {message["payload"].get("$ref") for message in document["components"]["messages"].values()}
    assert {"#/components/schemas/TaSignal", "#/components/schemas/StrategyTrigger"} <= payloads
