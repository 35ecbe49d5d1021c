"""Batches and group commits in the Kafka wiring, against the real Tansu broker and a real Postgres.

A buffering handler flushes once per transaction and discards its buffer on a rollback; a batch
handler is prepared with its records before it handles them; a record its flush always refuses is
dead-lettered after its attempts; group commit handles a backlog in fewer transactions, in order;
and the consume options that cannot go together are refused.
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.models import TaSignal
from torghut_runtime import Inbound, Outgoing, after_commit
from torghut_runtime.kafka import FetchTuning
from torghut_runtime.testing import produce, read_records

from .conftest import effects, make_runtime, record_effect, signal, trigger_for


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
