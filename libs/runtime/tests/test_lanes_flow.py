"""Record lanes over a stand-in consumer: order, concurrency, backpressure and gates.

A topic is handled in order one record at a time while other topics go on; a batch lane hands over
what is queued; workers give a lane per partition and cap how many are busy; a full lane pauses its
partition; a closed gate holds its topic. The lanes run against the real broker in every wiring
test; here each rule is pinned down alone.
"""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition
from torghut_runtime.lane_topics import HIGH_WATER, Gate, LaneTopic
from torghut_runtime.lanes import RecordLanes

from .conftest import Consumer, Record, per_record, settle


async def test_a_topic_is_handled_in_order_one_record_at_a_time_while_other_topics_go_on() -> None:
    gate = asyncio.Event()
    handled: list[Record] = []
    busy: set[str] = set()

    async def handle(record: Record) -> bool:
        assert record.topic not in busy, "two records of one topic at once"
        busy.add(record.topic)
        if record.topic == "a":
            await gate.wait()
        handled.append(record)
        busy.discard(record.topic)
        return True

    consumer = Consumer()
    lanes = RecordLanes({"a": LaneTopic(), "b": LaneTopic()}, per_record(handle), retry_backoff_s=0)
    for offset in range(3):
        lanes.accept([Record("a", offset % 2, offset)], consumer)  # type: ignore[arg-type]
    lanes.accept([Record("b", 0, 0)], consumer)  # type: ignore[arg-type]
    await settle(lambda: handled == [Record("b", 0, 0)])
    gate.set()
    await settle(lambda: len(handled) == 4)
    assert [r.offset for r in handled if r.topic == "a"] == [0, 1, 2]
    await lanes.drain(1)
    assert consumer.committed() == {("a", 0): 3, ("a", 1): 2, ("b", 0): 1}


async def test_a_batch_lane_hands_over_what_is_queued_and_offers_again_what_was_not_done() -> None:
    calls: list[list[Record]] = []
    gate = asyncio.Event()

    async def handle(records: list[Record]) -> list[Record]:
        calls.append(list(records))
        if len(calls) == 1:
            await gate.wait()  # more records queue up meanwhile
        elif len(calls) == 2:  # partition 0 stops at its second record; partition 1 goes on
            return [r for r in records if r.partition == 1 or r.offset == 1]
        return records

    consumer = Consumer()
    lanes = RecordLanes({"a": LaneTopic(batch=3)}, handle, retry_backoff_s=0)
    lanes.accept([Record("a", 0, 0)], consumer)  # type: ignore[list-item]
    await settle(lambda: len(calls) == 1)
    lanes.accept([Record("a", 0, 1), Record("a", 1, 0), Record("a", 0, 2), Record("a", 1, 1)],  # type: ignore[list-item]
                 consumer)  # type: ignore[arg-type]
    gate.set()
    await settle(lambda: len(calls) == 3)
    assert calls[1] == [Record("a", 0, 1), Record("a", 1, 0), Record("a", 0, 2)], "up to the batch, in arrival order"
    assert calls[2] == [Record("a", 0, 2), Record("a", 1, 1)], "what was not done comes first next time"
    await settle(lambda: consumer.committed() == {("a", 0): 3, ("a", 1): 2})
    await lanes.drain(1)


async def test_workers_give_a_lane_per_partition_and_cap_how_many_are_busy() -> None:
    busy = 0
    most = 0
    gate = asyncio.Event()

    async def handle(record: Record) -> bool:
        nonlocal busy, most
        busy += 1
        most = max(most, busy)
        await gate.wait()
        busy -= 1
        return True

    consumer = Consumer(assigned={TopicPartition("a", p) for p in range(3)})
    lanes = RecordLanes({"a": LaneTopic.with_workers(2)}, per_record(handle), retry_backoff_s=0)
    for partition in range(3):
        lanes.accept([Record("a", partition, 0)], consumer)  # type: ignore[arg-type]
    await settle(lambda: busy == 2)
    for _ in range(50):
        await asyncio.sleep(0)
    assert most == 2, "the third partition waits for a worker"
    gate.set()
    await settle(lambda: busy == 0)
    await lanes.drain(1)
    assert consumer.committed() == {("a", 0): 1, ("a", 1): 1, ("a", 2): 1}


async def test_a_full_lane_pauses_its_partition_and_resumes_it_once_caught_up() -> None:
    gate = asyncio.Event()

    async def handle(record: Record) -> bool:
        await gate.wait()
        return True

    consumer = Consumer()
    lanes = RecordLanes({"a": LaneTopic()}, per_record(handle), retry_backoff_s=0)
    for offset in range(HIGH_WATER):
        lanes.accept([Record("a", 0, offset)], consumer)  # type: ignore[arg-type]
    assert consumer.paused == {TopicPartition("a", 0)}
    gate.set()
    await settle(lambda: not consumer.paused)
    assert consumer.resumed == [TopicPartition("a", 0)]
    await lanes.drain(1)
    assert consumer.committed() == {("a", 0): HIGH_WATER}
    assert len(consumer.commits) < HIGH_WATER, "handled offsets are committed together"


async def test_a_closed_gate_holds_its_topic_uncommitted_and_opening_it_carries_on_in_order() -> None:
    handled: list[Record] = []

    async def handle(record: Record) -> bool:
        handled.append(record)
        return True

    gate = Gate(False)
    consumer = Consumer()
    lanes = RecordLanes({"a": LaneTopic(gate=gate), "b": LaneTopic()}, per_record(handle), retry_backoff_s=0)
    for offset in range(HIGH_WATER):
        lanes.accept([Record("a", 0, offset)], consumer)  # type: ignore[arg-type]
    lanes.accept([Record("b", 0, 0)], consumer)  # type: ignore[arg-type]
    await settle(lambda: handled == [Record("b", 0, 0)])  # the other topic goes on
    await settle(lambda: consumer.committed() == {("b", 0): 1})
    assert lanes.held() == HIGH_WATER and consumer.paused == {TopicPartition("a", 0)}, "full: no more fetched"

    gate.set(True)
    await settle(lambda: len(handled) == HIGH_WATER + 1)
    assert handled[1:] == [Record("a", 0, offset) for offset in range(HIGH_WATER)]
    await settle(lambda: consumer.committed() == {("a", 0): HIGH_WATER, ("b", 0): 1})
    assert not consumer.paused and lanes.held() == 0

    gate.set(False)  # closed again: the next record waits, and stopping does not wait for the gate
    lanes.accept([Record("a", 0, HIGH_WATER)], consumer)  # type: ignore[arg-type]
    await settle(lambda: lanes.held() == 1)
    await asyncio.wait_for(lanes.drain(600), 30)  # the held lane ends at once, not at drain's timeout
    assert len(handled) == HIGH_WATER + 1 and consumer.committed()[("a", 0)] == HIGH_WATER
