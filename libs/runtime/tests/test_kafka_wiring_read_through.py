"""Read-through and stopping in the Kafka wiring, against the real Tansu broker and a real Postgres.

``read_through`` waits until the consumer committed what is on a topic now (and is false when the
broker cannot be asked); close hooks run only after the message in flight is handled.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from torghut_contracts import topics
from torghut_contracts.models import StrategyTrigger, TaSignal
from torghut_runtime import Inbound, Outgoing
from torghut_runtime.testing import produce

from .conftest import HOP_OUT, effects, make_runtime, record_effect, signal, trigger_for


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
