"""The Kafka wiring against the real Tansu broker and a real Postgres.

A handler that fails mid-message is redelivered and its effect happens once; a failure between the
database commit and the publish republishes the stored output, not a second effect; a poison
message lands in the DLQ with its headers while the next message flows; one trace id survives two
hops.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import types
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from aiokafka.admin import AIOKafkaAdminClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.enums import Side
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import StrategyTrigger, TaSignal
from torghut_embedded.pytest_plugin import create_test_topics
from torghut_runtime import Inbound, Outgoing, ServiceRuntime, ServiceSettings, after_commit
from torghut_runtime.kafka import FetchTuning, UndeclaredTopic
from torghut_runtime.lanes import RecordLanes
from torghut_runtime.testing import produce, read_records, test_settings
from torghut_runtime.tracing import build_tracer_provider

MIGRATIONS = Path(__file__).parent / "migrations"
HOP_OUT = topics.TopicSpec("test.hop-out.v1", StrategyTrigger, "symbol", lambda m: m.symbol)
T0 = datetime(2026, 2, 12, 15, 31, tzinfo=UTC)


def signal(seq: int, symbol: str = "AAPL") -> TaSignal:
    return TaSignal(symbol=symbol, event_ts=T0, seq=seq, price=Decimal("100"), macd=Decimal("1"))


def trigger_for(s: TaSignal) -> StrategyTrigger:
    return StrategyTrigger(request_id=f"req-{s.symbol}-{s.seq}", strategy_id="test", symbol=s.symbol,
                           direction=Side.BUY, trigger_type="test", event_ts=s.event_ts, signal_seq=s.seq,
                           price=s.price or Decimal(1), triggered_at=T0)


async def record_effect(conn: AsyncConnection, s: TaSignal) -> None:
    await conn.execute(sa.text("INSERT INTO effects (symbol, seq) VALUES (:s, :q)"), {"s": s.symbol, "q": s.seq})


async def effects(runtime: ServiceRuntime) -> list[tuple[str, int]]:
    async with runtime.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(sa.text("SELECT symbol, seq FROM effects ORDER BY id"))]


@pytest.fixture(params=["per-message", "claim-last", "batch", "group-commit"])
def mode(request: pytest.FixtureRequest) -> dict[str, int]:
    """Every guarantee is checked every way a topic can be consumed: per message looking up the
    tracking record first, per message claiming it last (``claim_last``), in batches, and per
    message in group commits."""
    return {"per-message": {}, "claim-last": {"claim_last": True}, "batch": {"batch": 50},
            "group-commit": {"group_commit": True}}[request.param]


@pytest.fixture
async def prefix(kafka_bootstrap: str, topic_namespace: str) -> str:
    names = [topic_namespace + spec.name for spec in (topics.TA_SIGNALS, topics.TRIGGERS, HOP_OUT)]
    await create_test_topics(kafka_bootstrap, names + [n + ".dlq" for n in names])
    return topic_namespace


def make_runtime(kafka_bootstrap: str, database_url: str, prefix: str, name: str = "wiring-test",
                 exporter: InMemorySpanExporter | None = None, **overrides: object) -> ServiceRuntime:
    settings = test_settings(ServiceSettings, kafka_bootstrap=kafka_bootstrap, database_url=database_url,
                             topic_prefix=prefix, service_name=name, **overrides)
    provider = build_tracer_provider(name, None)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = ServiceRuntime(settings, migrations=MIGRATIONS, tracer_provider=provider, configure_logs=False)
    runtime.produces(topics.TRIGGERS, HOP_OUT)
    return runtime


async def test_a_handler_failing_mid_message_is_redelivered_and_its_effect_happens_once(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str, mode: dict[str, int]) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    calls = 0

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        nonlocal calls
        calls += 1
        await record_effect(conn, inbound.payload)
        if calls == 1:
            raise RuntimeError("crash after writing the effect, before finishing")
        return [Outgoing(topics.TRIGGERS, trigger_for(inbound.payload))]

    runtime.consume(topics.TA_SIGNALS, handle, **mode)
    async with runtime.running():
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(1), key="AAPL")
        out = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=1, settle=0.5)
        assert calls == 2
        assert await effects(runtime) == [("AAPL", 1)]
    assert [r.model(topics.TRIGGERS).request_id for r in out] == ["req-AAPL-1"]


async def test_a_failure_between_commit_and_publish_republishes_instead_of_redoing(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch,
        mode: dict[str, int]) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    calls = 0
    counted: list[int] = []

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        nonlocal calls
        calls += 1
        await record_effect(conn, inbound.payload)
        after_commit(lambda: counted.append(inbound.payload.seq))
        # The second output's identity is its effect's (as a venue event's is), not derived from the input.
        return [Outgoing(topics.TRIGGERS, trigger_for(inbound.payload)),
                Outgoing(topics.TRIGGERS, trigger_for(inbound.payload), message_id=f"effect-{inbound.payload.seq}")]

    real_send = runtime.kafka.publishers.send
    failures = 0

    async def flaky_send(output):  # type: ignore[no-untyped-def]
        nonlocal failures
        if failures == 0:
            failures += 1
            raise ConnectionError("broker went away after the database commit")
        return await real_send(output)

    monkeypatch.setattr(runtime.kafka.publishers, "send", flaky_send)
    runtime.consume(topics.TA_SIGNALS, handle, **mode)
    async with runtime.running():
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(7), key="AAPL")
        out = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=2, settle=0.5)
        # Per message the stored mark is read first, so the handler never runs again. A batch and a
        # claim_last handler claim marks at the end: the handler runs again, finds the mark taken, and
        # its work rolls back.
        assert calls == (2 if mode else 1), "the handler ran an unexpected number of times"
        assert await effects(runtime) == [("AAPL", 7)], "the effect must happen once"
        assert counted == [7], "what a rolled-back run registered to count is forgotten"
        duplicates = runtime.metrics.messages.labels(topic=topics.TA_SIGNALS.name, outcome="duplicate")._value.get()
        assert duplicates == 1
    assert len(out) == 2
    derived, named = (r.headers[h.MESSAGE_ID] for r in out)
    assert named == "effect-7" and derived not in ("", "effect-7")


async def test_a_replayed_message_changes_nothing_twice(kafka_bootstrap: str, fresh_database_url: str,
                                                         prefix: str, mode: dict[str, int]) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        await record_effect(conn, inbound.payload)
        return [Outgoing(topics.TRIGGERS, trigger_for(inbound.payload))]

    runtime.consume(topics.TA_SIGNALS, handle, **mode)
    same = MessageHeaders.new(topics.TA_SIGNALS.name, message_id="replayed-once")
    async with runtime.running():
        for _ in range(2):
            await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(3), key="AAPL", headers=same)
        out = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=2, settle=0.3)
        assert await effects(runtime) == [("AAPL", 3)]
    # The replay republishes the stored output: same message id, so the next hop deduplicates it.
    assert len({r.headers[h.MESSAGE_ID] for r in out}) == 1


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


async def test_one_trace_and_one_correlation_id_survive_two_hops(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str, mode: dict[str, int]) -> None:
    exporter = InMemorySpanExporter()
    first = make_runtime(kafka_bootstrap, fresh_database_url, prefix, name="hop-one", exporter=exporter)
    second = make_runtime(kafka_bootstrap, fresh_database_url, prefix, name="hop-two", exporter=exporter,
                          db_schema="hop_two")

    async def hop_one(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        return [Outgoing(topics.TRIGGERS, trigger_for(inbound.payload))]

    async def hop_two(inbound: Inbound[StrategyTrigger], conn: AsyncConnection) -> list[Outgoing]:
        return [Outgoing(HOP_OUT, inbound.payload)]

    first.consume(topics.TA_SIGNALS, hop_one, **mode)
    second.consume(topics.TRIGGERS, hop_two, **mode)
    origin = MessageHeaders.new(topics.TA_SIGNALS.name, correlation_id="corr-chain-1")
    async with first.running(), second.running():
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(9), key="AAPL",
                      headers={**origin.as_dict(), h.TRACEPARENT: traceparent})
        middle = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=1)
        final = await read_records(kafka_bootstrap, prefix + HOP_OUT.name, expect=1)

    trace_id = traceparent.split("-")[1]
    for record in (middle[0], final[0]):
        assert record.headers[h.TRACEPARENT].split("-")[1] == trace_id
        assert record.headers[h.CORRELATION_ID] == "corr-chain-1"
    assert final[0].headers[h.CAUSATION_ID] == middle[0].headers[h.MESSAGE_ID]
    assert middle[0].headers[h.CAUSATION_ID] == origin.message_id
    # FastStream gives each fetch a span of its own (its own trace); each message's processing
    # span, and the publishing spans under it, continue the message's trace.
    processing = [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == "torghut.kafka"]
    assert len(processing) == 2
    assert {format(s.context.trace_id, "032x") for s in processing} == {trace_id}


async def test_parallel_workers_overlap_keys_yet_keep_each_partition_in_order(
        kafka_bootstrap: str, fresh_database_url: str, topic_namespace: str) -> None:
    await create_test_topics(kafka_bootstrap, [topic_namespace + topics.TA_SIGNALS.name], partitions=2)
    await create_test_topics(kafka_bootstrap, [topic_namespace + topics.TA_SIGNALS.name + ".dlq",
                                               topic_namespace + topics.TRIGGERS.name])
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, topic_namespace)
    in_flight = 0
    overlapped = asyncio.Event()
    seen: dict[str, list[int]] = {}

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        nonlocal in_flight
        in_flight += 1
        if in_flight > 1:
            overlapped.set()
        try:
            await asyncio.wait_for(overlapped.wait(), timeout=0.5)
        except TimeoutError:
            pass
        seen.setdefault(inbound.payload.symbol, []).append(inbound.payload.seq)
        in_flight -= 1
        return []

    runtime.consume(topics.TA_SIGNALS, handle, workers=2)
    source = topic_namespace + topics.TA_SIGNALS.name
    async with runtime.running():
        for seq in range(1, 4):
            for symbol in ("AAPL", "MSFT", "NVDA", "AMD"):
                await produce(kafka_bootstrap, source, signal(seq, symbol), key=symbol)
        for _ in range(300):
            if sum(len(v) for v in seen.values()) == 12:
                break
            await asyncio.sleep(0.05)
    assert all(seqs == [1, 2, 3] for seqs in seen.values()), seen
    assert len(seen) == 4
    assert overlapped.is_set(), "two partitions were handled at the same time"


class BufferingHandler:
    """Buffers its writes and flushes them once per transaction, as a high-volume handler would."""

    def __init__(self, fail_seq: int | None = None) -> None:
        self.buffer: list[TaSignal] = []
        self.flushes = 0
        self.discards = 0
        self.fail_seq = fail_seq
        self.counted: list[int] = []

    async def __call__(self, inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        after_commit(lambda: self.counted.append(inbound.payload.seq))
        if inbound.payload.seq == self.fail_seq:
            self.fail_seq = None  # fails once, then succeeds
            raise RuntimeError("transient")
        self.buffer.append(inbound.payload)
        return []

    async def flush(self, conn: AsyncConnection) -> None:
        self.flushes += 1
        for s in self.buffer:
            await record_effect(conn, s)
        self.buffer.clear()

    def discard(self) -> None:
        self.discards += 1
        self.buffer.clear()


async def test_a_buffering_handler_flushes_once_per_batch_and_discards_on_rollback(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    handler = BufferingHandler(fail_seq=7)
    runtime.consume(topics.TA_SIGNALS, handler, batch=100)
    for seq in range(1, 31):
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(seq), key="AAPL")
    async with runtime.running():
        for _ in range(600):
            if len(await effects(runtime)) >= 30:
                break
            await asyncio.sleep(0.05)
        assert await effects(runtime) == [("AAPL", seq) for seq in range(1, 31)], "each effect once, in order"
    assert handler.discards >= 1, "the rolled-back optimistic pass dropped its buffer"
    assert handler.flushes < 30 + 2, "flushes happen per transaction, not per message"
    assert handler.counted == list(range(1, 31)), "a rolled-back pass or savepoint counts nothing"


class Preparing(BufferingHandler):
    """Records what the runtime prepared it for, and what it then handled, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []

    async def prepare(self, conn: AsyncConnection, inbounds: list[Inbound[TaSignal]]) -> None:
        self.events += [("prepared", i.payload.seq) for i in inbounds]

    async def __call__(self, inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        self.events.append(("handled", inbound.payload.seq))
        return await super().__call__(inbound, conn)


async def test_a_batch_handler_is_prepared_with_the_records_before_it_handles_them(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    handler = Preparing()
    runtime.consume(topics.TA_SIGNALS, handler, batch=100)
    for seq in range(1, 21):
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(seq), key="AAPL")
    async with runtime.running():
        for _ in range(200):
            if len(await effects(runtime)) >= 20:
                break
            await asyncio.sleep(0.05)
    assert await effects(runtime) == [("AAPL", seq) for seq in range(1, 21)]
    prepared = {seq for event, seq in handler.events if event == "prepared"}
    assert prepared == set(range(1, 21))
    for seq in range(1, 21):  # each record's first handling comes after a prepare that named it
        first = handler.events.index(("handled", seq))
        assert ("prepared", seq) in handler.events[:first]


class FlushRefusing(BufferingHandler):
    """A buffering handler whose flush always refuses one record (a row its store will never take)."""

    async def flush(self, conn: AsyncConnection) -> None:
        if any(s.seq == 666 for s in self.buffer):
            self.buffer.clear()
            raise ValueError("the store refuses this row")
        await super().flush(conn)


async def test_a_record_its_flush_always_refuses_is_dead_lettered_after_its_attempts(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix, consumer_max_attempts=3)
    runtime.consume(topics.TA_SIGNALS, FlushRefusing(), batch=100)
    source = prefix + topics.TA_SIGNALS.name
    for seq in (1, 666, 2):
        await produce(kafka_bootstrap, source, signal(seq), key="AAPL")
    async with runtime.running():
        (dead,) = await read_records(kafka_bootstrap, source + ".dlq", expect=1)
        for _ in range(200):
            if len(await effects(runtime)) >= 2:
                break
            await asyncio.sleep(0.05)
        assert await effects(runtime) == [("AAPL", 1), ("AAPL", 2)], "the partition moved on past it"
    assert dead.headers[h.DLQ_ATTEMPTS] == "3" and "refuses this row" in dead.headers[h.DLQ_ERROR]


async def test_topics_sharing_a_consumer_keep_their_own_guarantees(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    """Each consumer is a fetch loop, so a service's per-record topics share one; each topic keeps
    its own retries, dead letters and idempotency, and a poison record holds back only its topic."""
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix, consumer_max_attempts=2)
    seen: list[tuple[str, str]] = []

    async def on_signal(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        await record_effect(conn, inbound.payload)
        seen.append(("signal", str(inbound.payload.seq)))
        return [Outgoing(topics.TRIGGERS, trigger_for(inbound.payload))]

    async def on_hop(inbound: Inbound[StrategyTrigger], conn: AsyncConnection) -> list[Outgoing]:
        if inbound.payload.request_id == "req-poison":
            raise ValueError("this trigger always fails")
        seen.append(("hop", inbound.payload.request_id))
        return []

    runtime.consume(topics.TA_SIGNALS, on_signal)
    runtime.consume(HOP_OUT, on_hop)
    hop_topic = prefix + HOP_OUT.name
    poison = trigger_for(signal(1)).model_copy(update={"request_id": "req-poison"})
    same = MessageHeaders.new(topics.TA_SIGNALS.name, message_id="signal-once")
    async with runtime.running():
        assert len(runtime.broker.subscribers) == 1
        await produce(kafka_bootstrap, hop_topic, poison, key="AAPL")
        for _ in range(2):  # a redelivery of the same message changes nothing twice
            await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(5), key="AAPL", headers=same)
        await produce(kafka_bootstrap, hop_topic, trigger_for(signal(9)), key="AAPL")
        dead = await read_records(kafka_bootstrap, hop_topic + ".dlq", expect=1)
        out = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=2, settle=0.3)
        for _ in range(100):
            if ("hop", "req-AAPL-9") in seen:
                break
            await asyncio.sleep(0.05)
        assert await effects(runtime) == [("AAPL", 5)]
        committed = await committed_groups(kafka_bootstrap, prefix)

    assert sorted(seen) == [("hop", "req-AAPL-9"), ("signal", "5")]
    assert dead[0].headers[h.DLQ_REASON] == "handler_error" and dead[0].headers[h.DLQ_ATTEMPTS] == "2"
    assert len({r.headers[h.MESSAGE_ID] for r in out}) == 1, "the redelivery republished the stored output"
    assert committed == [prefix + "wiring-test.records"]


async def committed_groups(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(g for g, _ in await admin.list_consumer_groups() if g.startswith(prefix))
    finally:
        await admin.close()


async def test_read_through_waits_until_the_consumer_committed_what_is_on_the_topic_now(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str) -> None:
    """A handler about to act on state another topic keeps asks whether that topic is read through; a
    held handler holds back its own topic only."""
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    release = asyncio.Event()
    hops: list[str] = []

    async def on_signal(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        await release.wait()
        await record_effect(conn, inbound.payload)
        return []

    async def on_trigger(inbound: Inbound[StrategyTrigger], conn: AsyncConnection) -> list[Outgoing]:
        hops.append(inbound.payload.request_id)
        return []

    runtime.consume(topics.TA_SIGNALS, on_signal)
    runtime.consume(HOP_OUT, on_trigger)
    runtime.consume(topics.TRIGGERS, on_trigger)
    async with runtime.running():
        assert await runtime.kafka.read_through(topics.TA_SIGNALS, timeout_s=5), "an empty topic is read through"
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(1), key="AAPL")
        assert not await runtime.kafka.read_through(topics.TA_SIGNALS, timeout_s=0.5), "its handler is held"
        waiting = asyncio.create_task(runtime.kafka.read_through(topics.TA_SIGNALS, timeout_s=30))
        # The consumer's other topics go on meanwhile: each topic is a lane of its own.
        await produce(kafka_bootstrap, prefix + HOP_OUT.name, trigger_for(signal(2)), key="AAPL")
        assert await runtime.kafka.read_through(HOP_OUT, timeout_s=30), "another topic of the same consumer"
        assert hops == ["req-AAPL-2"]
        assert not waiting.done()
        release.set()
        assert await waiting
        assert await effects(runtime) == [("AAPL", 1)], "read through means the handler's transaction committed"
        with pytest.raises(ValueError, match="not consumed"):
            await runtime.kafka.read_through(topics.DECISIONS, timeout_s=1)


async def test_read_through_is_false_when_the_broker_cannot_be_asked(fresh_database_url: str) -> None:
    runtime = make_runtime("127.0.0.1:1", fresh_database_url, "")

    async def on_signal(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        return []

    runtime.consume(topics.TA_SIGNALS, on_signal)
    assert not await runtime.kafka.read_through(topics.TA_SIGNALS, timeout_s=5)
    await runtime.kafka.progress.close()


async def test_close_hooks_run_after_the_message_in_flight_is_handled(kafka_bootstrap: str, fresh_database_url: str,
                                                                      prefix: str) -> None:
    """A stop while a handler awaits its HTTP client: stop hooks run first, close hooks only once the
    handler returned, so closing the client cannot fail the message being handled."""
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)
    entered = asyncio.Event()
    order: list[str] = []

    async def slow(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        entered.set()
        await asyncio.sleep(0.5)
        order.append("handled")
        return []

    async def on_stop() -> None:
        order.append("stop hook")

    async def on_closed() -> None:
        order.append("close hook")

    runtime.consume(topics.TA_SIGNALS, slow)
    runtime.on_stop(on_stop)
    runtime.on_closed(on_closed)
    await runtime.start()
    try:
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(1), key="AAPL")
        await asyncio.wait_for(entered.wait(), 30)
    finally:
        await runtime.stop()
    assert order == ["stop hook", "handled", "close hook"]


async def test_a_batch_mixing_replays_and_new_records_applies_each_once(kafka_bootstrap: str, fresh_database_url: str,
                                                                       prefix: str) -> None:
    """The batch's one-statement claim finds two records already processed: the whole pass rolls back
    and the checked pass republishes their stored outputs while handling the new ones."""
    def make() -> ServiceRuntime:
        runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)

        async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
            await record_effect(conn, inbound.payload)
            return [Outgoing(topics.TRIGGERS, trigger_for(inbound.payload))]

        runtime.consume(topics.TA_SIGNALS, handle, batch=50)
        return runtime

    source = prefix + topics.TA_SIGNALS.name

    def ids(seq: int) -> MessageHeaders:
        return MessageHeaders.new(topics.TA_SIGNALS.name, message_id=f"signal-{seq}")

    first = make()
    async with first.running():
        for seq in (1, 2, 3):
            await produce(kafka_bootstrap, source, signal(seq), key="AAPL", headers=ids(seq))
        before = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=3, settle=0.3)
    for seq in (1, 4, 2, 5):  # produced while nothing consumes: the next start fetches them together
        await produce(kafka_bootstrap, source, signal(seq), key="AAPL", headers=ids(seq))
    second = make()
    async with second.running():
        out = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=7, settle=0.3)
        assert await effects(second) == [("AAPL", 1), ("AAPL", 2), ("AAPL", 3), ("AAPL", 4), ("AAPL", 5)]
        outcome = second.metrics.messages.labels
        assert outcome(topic=topics.TA_SIGNALS.name, outcome="duplicate")._value.get() == 2
        assert outcome(topic=topics.TA_SIGNALS.name, outcome="processed")._value.get() == 2
    republished = {r.model(topics.TRIGGERS).request_id: r.headers[h.MESSAGE_ID] for r in out[3:]}
    original = {r.model(topics.TRIGGERS).request_id: r.headers[h.MESSAGE_ID] for r in before}
    assert republished["req-AAPL-1"] == original["req-AAPL-1"] and republished["req-AAPL-2"] == original["req-AAPL-2"]
    assert sorted(republished) == ["req-AAPL-1", "req-AAPL-2", "req-AAPL-4", "req-AAPL-5"]


@pytest.mark.parametrize(("group_size", "transactions"), [(64, "fewer"), (1, "one each")])
async def test_group_commit_handles_a_backlog_in_fewer_transactions_in_order(
        kafka_bootstrap: str, fresh_database_url: str, prefix: str, group_size: int, transactions: str) -> None:
    """CONSUMER_GROUP_COMMIT records a transaction: a backlog shares transactions, each key in order; 1
    gives every record its own."""
    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix, consumer_group_commit=group_size)
    seen: list[tuple[int, int]] = []

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        txid = (await conn.execute(sa.text("SELECT txid_current()"))).scalar_one()
        seen.append((inbound.payload.seq, txid))
        await record_effect(conn, inbound.payload)
        return [Outgoing(topics.TRIGGERS, trigger_for(inbound.payload))]

    runtime.consume(topics.TA_SIGNALS, handle, group_commit=True)
    for seq in range(1, 11):
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(seq), key="AAPL")
    async with runtime.running():
        out = await read_records(kafka_bootstrap, prefix + topics.TRIGGERS.name, expect=10, settle=0.3)
        assert await effects(runtime) == [("AAPL", seq) for seq in range(1, 11)]
    assert [r.model(topics.TRIGGERS).signal_seq for r in out] == list(range(1, 11))
    committed = {txid for _, txid in seen}
    assert len(committed) < 10 if transactions == "fewer" else len(committed) == 10


def test_group_commit_and_an_explicit_batch_size_are_one_or_the_other(fresh_database_url: str) -> None:
    runtime = make_runtime("127.0.0.1:1", fresh_database_url, "t.")

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        return []

    with pytest.raises(ValueError, match="group_commit"):
        runtime.consume(topics.TA_SIGNALS, handle, group_commit=True, batch=10)


def test_fetch_tuning_is_only_for_a_topic_with_a_consumer_of_its_own(fresh_database_url: str) -> None:
    runtime = make_runtime("127.0.0.1:1", fresh_database_url, "t.")

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        return []

    with pytest.raises(ValueError, match="group_id"):
        runtime.consume(topics.TA_SIGNALS, handle, batch=10, fetch=FetchTuning(500, 1 << 20))
    runtime.consume(topics.TA_SIGNALS, handle, batch=10, group_id="t.signals", fetch=FetchTuning(500, 1 << 20))


async def test_an_idle_fetch_loop_waits_in_getmany_and_never_spins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fetch loop blocks in ``getmany`` (which returns the moment records are fetched) instead of
    polling and sleeping; an empty answer that came back early waits out the fetch wait's rest."""
    from aiokafka.errors import ConsumerStoppedError
    from torghut_runtime.kafka import fetching

    class Consumer:
        def __init__(self) -> None:
            self.answers: list[dict[str, list[str]]] = [{}, {"p0": ["r1", "r2"], "p1": ["r3"]}]
            self.asked: list[tuple[int, int]] = []

        async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[str]]:
            self.asked.append((timeout_ms, max_records))
            if not self.answers:
                raise ConsumerStoppedError
            return self.answers.pop(0)

    class Lanes:
        accepted: list[list[str]] = []

        def accept(self, records: object, consumer: object) -> None:
            self.accepted.append(list(records))  # type: ignore[call-overload]

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    consumer, lanes = Consumer(), Lanes()
    monkeypatch.setattr(fetching.asyncio, "sleep", sleep)
    loop = fetching.FetchLoop("test", types.SimpleNamespace(consumer=consumer), lanes, 50)  # type: ignore[arg-type]
    await loop._run()  # returns when the consumer stops
    assert len(slept) == 1 and 0.9 < slept[0] <= 1.0, "only the empty answer waited"
    assert lanes.accepted == [["r1", "r2", "r3"]], "one fetch, one hand-over"
    assert consumer.asked == [(1000, 50)] * 3


async def test_a_lane_stopped_by_a_bug_fails_the_liveness_probe(kafka_bootstrap: str, fresh_database_url: str,
                                                                prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_bookkeeping(*_: object) -> None:
        raise AssertionError("a bug in the lane itself, past the handler's retries")

    runtime = make_runtime(kafka_bootstrap, fresh_database_url, prefix)

    async def handle(inbound: Inbound[TaSignal], conn: AsyncConnection) -> list[Outgoing]:
        return []

    runtime.consume(topics.TA_SIGNALS, handle)
    transport = httpx.ASGITransport(app=runtime.asgi())
    async with runtime.running(), httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        assert (await client.get("/healthz")).status_code == 200
        monkeypatch.setattr(RecordLanes, "_mark_handled", broken_bookkeeping)
        await produce(kafka_bootstrap, prefix + topics.TA_SIGNALS.name, signal(1), key="AAPL")
        for _ in range(200):
            if runtime.kafka.crashed_lanes():
                break
            await asyncio.sleep(0.05)
        health = await client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["checks"] == {"broker": True, "lanes": False}


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
