"""Reading a window of a topic: the pure admission rules as a table, then against the real broker."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from torghut_contracts import topics
from torghut_contracts.examples import example
from torghut_embedded.kafka import TANSU_PRODUCER_SETTINGS, create_test_topics
from torghut_runtime.testing import create_topics_for
from torghut_runtime.topic_window import BrokerUnreachable, RawRecord, TopicMissing, Window, read_window, to_ms


@pytest.mark.parametrize(
    ("window", "record", "admitted"),
    [
        (Window(), dict(offset=5, timestamp_ms=10, key="AAPL", headers={}), True),
        (Window(start_offset=5), dict(offset=4, timestamp_ms=10, key=None, headers={}), False),
        (Window(start_offset=5), dict(offset=5, timestamp_ms=10, key=None, headers={}), True),
        (Window(end_offset=5), dict(offset=5, timestamp_ms=10, key=None, headers={}), False),
        (Window(since_ms=100), dict(offset=0, timestamp_ms=99, key=None, headers={}), False),
        (Window(since_ms=100), dict(offset=0, timestamp_ms=100, key=None, headers={}), True),
        (Window(until_ms=100), dict(offset=0, timestamp_ms=100, key=None, headers={}), False),
        (Window(key="AAPL"), dict(offset=0, timestamp_ms=0, key="MSFT", headers={}), False),
        (Window(header_equals={"x-correlation-id": "c1"}),
         dict(offset=0, timestamp_ms=0, key=None, headers={"x-correlation-id": "c1"}), True),
        (Window(header_equals={"x-correlation-id": "c1"}),
         dict(offset=0, timestamp_ms=0, key=None, headers={"x-correlation-id": "c2"}), False),
    ],
)
def test_window_admits(window: Window, record: dict, admitted: bool) -> None:
    assert window.admits(**record) is admitted


def test_times_need_a_zone() -> None:
    assert to_ms(datetime(2026, 1, 1, tzinfo=UTC)) == 1767225600000
    with pytest.raises(ValueError, match="time zone"):
        to_ms(datetime(2026, 1, 1))


async def collect(bootstrap: str, topic: str, window: Window) -> list[RawRecord]:
    return [r async for r in read_window(bootstrap, topic, window)]


@pytest.fixture
async def signals_topic(kafka_bootstrap: str, topic_namespace: str) -> str:
    """Five signals over two partitions, record times one minute apart (set by the producer, in the past)."""
    await create_topics_for(kafka_bootstrap, topic_namespace, topics.TA_SIGNALS, partitions=2)
    name = topic_namespace + topics.TA_SIGNALS.name
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, **TANSU_PRODUCER_SETTINGS)
    await producer.start()
    try:
        for seq, symbol in enumerate(["AAPL", "MSFT", "AAPL", "NVDA", "AAPL"]):
            signal = example(topics.TA_SIGNALS.name).model_copy(update={"symbol": symbol, "seq": seq})
            await producer.send_and_wait(name, signal.model_dump_json().encode(), key=symbol.encode(),
                                         timestamp_ms=T0 + seq * 60_000)
    finally:
        await producer.stop()
    return name


T0 = to_ms(datetime(2026, 2, 12, 15, 0, tzinfo=UTC))


async def test_a_window_by_record_time_and_by_offsets(kafka_bootstrap: str, signals_topic: str) -> None:
    everything = await collect(kafka_bootstrap, signals_topic, Window())
    assert sorted(r.timestamp_ms for r in everything) == [T0 + i * 60_000 for i in range(5)]
    assert {r.partition for r in everything} == {0, 1}
    for partition in (0, 1):
        offsets = [r.offset for r in everything if r.partition == partition]
        assert offsets == sorted(offsets), "each partition in offset order"
    middle = await collect(kafka_bootstrap, signals_topic, Window(since_ms=T0 + 60_000, until_ms=T0 + 180_000))
    assert sorted(r.timestamp_ms for r in middle) == [T0 + 60_000, T0 + 120_000], "since inclusive, until exclusive"
    future = await collect(kafka_bootstrap, signals_topic, Window(since_ms=int(time.time() * 1000) + 3_600_000))
    assert future == [], "past the end Tansu answers offset 0 / timestamp -1: no data, not everything"
    first_only = await collect(kafka_bootstrap, signals_topic, Window(end_offset=1))
    assert all(r.offset == 0 for r in first_only) and len(first_only) <= 2


async def test_a_missing_topic_and_an_unreachable_broker_fail_in_one_line(kafka_bootstrap: str,
                                                                        topic_namespace: str) -> None:
    with pytest.raises(TopicMissing, match="does not exist"):
        await collect(kafka_bootstrap, topic_namespace + "nothing-here", Window())
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable, match=closed) as caught:
        await collect(closed, "any", Window())
    assert time.monotonic() - started < 10
    assert "\n" not in str(caught.value)


async def test_the_end_is_the_true_high_watermark_even_after_a_batched_produce(kafka_bootstrap: str,
                                                                              topic_namespace: str) -> None:
    """Tansu lists the end as the last batch's base offset + 1: 10 records sent as one batch list an end of 1."""
    name = topic_namespace + "batched"
    await create_test_topics(kafka_bootstrap, [name])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=50, **TANSU_PRODUCER_SETTINGS)
    await producer.start()
    try:
        sent = [await producer.send(name, b"%d" % i, timestamp_ms=T0 + i * 1000) for i in range(10)]
        for future in sent:
            await future
    finally:
        await producer.stop()
    everything = await collect(kafka_bootstrap, name, Window())
    assert [r.offset for r in everything] == list(range(10))
    tail = await collect(kafka_bootstrap, name, Window(since_ms=T0 + 7000))
    assert [r.value for r in tail] == [b"7", b"8", b"9"], "a window inside the last batch is found too"
