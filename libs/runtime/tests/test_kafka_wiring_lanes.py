"""Lanes and fetching in the Kafka wiring, against the real Tansu broker and a real Postgres.

Parallel workers overlap keys yet keep each partition in order; topics sharing a consumer keep their
own retries, dead letters and idempotency; an idle fetch loop waits in ``getmany`` and never spins;
a lane stopped by a bug fails the liveness probe.
"""

from __future__ import annotations

import asyncio
import types

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import StrategyTrigger, TaSignal
from torghut_embedded.pytest_plugin import create_test_topics
from torghut_runtime import Inbound, Outgoing
from torghut_runtime.lanes import RecordLanes
from torghut_runtime.testing import produce, read_records

from .conftest import HOP_OUT, committed_groups, effects, make_runtime, record_effect, signal, trigger_for


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
