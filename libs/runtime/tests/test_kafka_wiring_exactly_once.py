"""The Kafka wiring's effects happen once, against the real Tansu broker and a real Postgres.

A handler that fails mid-message is redelivered and its effect happens once; a failure between the
database commit and the publish republishes the stored output, not a second effect; a replayed
message changes nothing twice; a batch mixing replays and new records applies each once.
"""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import headers as h
from torghut_contracts import topics
from torghut_contracts.headers import MessageHeaders
from torghut_contracts.models import TaSignal
from torghut_runtime import Inbound, Outgoing, ServiceRuntime, after_commit
from torghut_runtime.testing import produce, read_records

from .conftest import effects, make_runtime, record_effect, signal, trigger_for


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
