"""Record lanes over a stand-in consumer: order, concurrency, backpressure, revocation, retries, stop.

The lanes run against the real broker in every wiring test; here each rule is pinned down alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError
from torghut_runtime.lanes import HIGH_WATER, RETRY_BACKOFF_CAP_S, Gate, LaneTopic, RecordLanes, backoff_s


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int


@dataclass
class Consumer:
    assigned: set[TopicPartition] = field(default_factory=lambda: {TopicPartition("a", 0), TopicPartition("a", 1),
                                                                   TopicPartition("b", 0)})
    commits: list[dict[tuple[str, int], int]] = field(default_factory=list)
    paused: set[TopicPartition] = field(default_factory=set)
    resumed: list[TopicPartition] = field(default_factory=list)
    failing_commits: int = 0

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)
        self.resumed.extend(tps)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.failing_commits:
            self.failing_commits -= 1
            raise CommitFailedError("membership changed")
        self.commits.append({(tp.topic, tp.partition): offset for tp, offset in offsets.items()})

    def committed(self) -> dict[tuple[str, int], int]:
        return {where: offset for commit in self.commits for where, offset in commit.items()}


def per_record(handle: Callable[[Record], Awaitable[bool]]) -> Callable[[list[Record]], Awaitable[list[Record]]]:
    """A lane handler for a one-record-at-a-time topic: done with the record, or not yet."""
    async def lane_handle(records: list[Record]) -> list[Record]:
        assert len(records) == 1, "a topic without a batch is handed one record at a time"
        return records if await handle(records[0]) else []
    return lane_handle


async def settle(condition, rounds: int = 1000) -> None:  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


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


async def test_a_record_of_a_revoked_partition_is_left_to_its_new_owner() -> None:
    handled: list[Record] = []

    async def handle(record: Record) -> bool:
        handled.append(record)
        return True

    consumer = Consumer(assigned={TopicPartition("a", 1)})
    lanes = RecordLanes({"a": LaneTopic()}, per_record(handle), retry_backoff_s=0)
    lanes.accept([Record("a", 0, 7)], consumer)  # type: ignore[arg-type]
    lanes.accept([Record("a", 1, 3)], consumer)  # type: ignore[arg-type]
    await settle(lambda: len(handled) == 1)
    await lanes.drain(1)
    assert handled == [Record("a", 1, 3)] and consumer.committed() == {("a", 1): 4}


async def test_a_record_is_tried_until_done_and_a_failed_commit_is_tried_again() -> None:
    answers: list[bool | Exception] = [False, RuntimeError("database down"), True, True]
    calls: list[Record] = []

    async def handle(record: Record) -> bool:
        calls.append(record)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    consumer = Consumer(failing_commits=1)
    lanes = RecordLanes({"a": LaneTopic()}, per_record(handle), retry_backoff_s=0)
    lanes.accept([Record("a", 0, 0)], consumer)  # type: ignore[arg-type]
    lanes.accept([Record("a", 0, 1)], consumer)  # type: ignore[arg-type]
    await settle(lambda: not answers)
    assert calls == [Record("a", 0, 0)] * 3 + [Record("a", 0, 1)]
    await settle(lambda: consumer.committed() == {("a", 0): 2})
    assert consumer.failing_commits == 0, "the first commit failed and was tried again"
    await lanes.drain(1)


async def test_drain_finishes_the_record_in_hand_and_leaves_the_rest() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()
    handled: list[int] = []

    async def handle(record: Record) -> bool:
        entered.set()
        await release.wait()
        handled.append(record.offset)
        return True

    consumer = Consumer()
    lanes = RecordLanes({"a": LaneTopic()}, per_record(handle), retry_backoff_s=0)
    for offset in range(3):
        lanes.accept([Record("a", 0, offset)], consumer)  # type: ignore[arg-type]
    await entered.wait()
    draining = asyncio.create_task(lanes.drain(5))
    await asyncio.sleep(0)
    lanes.accept([Record("a", 0, 3)], consumer)  # type: ignore[arg-type]
    release.set()
    await draining
    assert handled == [0] and consumer.committed() == {("a", 0): 1}, "the rest is read again after the restart"


async def test_a_lane_killed_by_a_bug_is_reported_and_the_other_lanes_go_on() -> None:
    handled: list[Record] = []

    async def handle(records: list[Record]) -> list[Record]:
        if records[0].topic == "a":
            return [object()]  # type: ignore[list-item]  # a handler bug: not one of the records it was given
        handled.extend(records)
        return records

    consumer = Consumer()
    lanes = RecordLanes({"a": LaneTopic(), "b": LaneTopic()}, handle, retry_backoff_s=0)
    lanes.accept([Record("a", 0, 0)], consumer)  # type: ignore[list-item]
    await settle(lambda: lanes.crashed == ["lane a"])
    lanes.accept([Record("b", 0, 0)], consumer)  # type: ignore[list-item]
    await settle(lambda: handled == [Record("b", 0, 0)])
    await lanes.drain(1)
    assert consumer.committed() == {("b", 0): 1}, "the crashed lane's record stays uncommitted for the restart"


def test_the_backoff_doubles_with_each_failure_in_a_row_up_to_its_cap() -> None:
    assert [backoff_s(0.2, n) for n in (1, 2, 3, 4)] == [0.2, 0.4, 0.8, 1.6]
    assert backoff_s(0.2, 40) == RETRY_BACKOFF_CAP_S


async def test_a_lane_failing_again_and_again_is_stalled_until_it_moves() -> None:
    failing = [True]
    tries: list[Record] = []

    async def handle(record: Record) -> bool:
        tries.append(record)
        if failing[0]:
            raise RuntimeError("the dead-letter topic refuses the copy")
        return True

    consumer = Consumer()
    lanes = RecordLanes({"a": LaneTopic(), "b": LaneTopic()}, per_record(handle), retry_backoff_s=0, stall_after=3)
    lanes.accept([Record("a", 0, 0)], consumer)  # type: ignore[arg-type]
    await settle(lambda: len(tries) >= 3)
    assert lanes.stalled == {"lane a"}
    failing[0] = False
    await settle(lambda: consumer.committed() == {("a", 0): 1})
    assert lanes.stalled == set()
    await lanes.drain(1)
