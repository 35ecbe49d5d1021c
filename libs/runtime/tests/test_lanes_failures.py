"""Record lanes over a stand-in consumer: revocation, retries, stop, crashes and stalls.

A revoked partition's record is left to its new owner; a record is tried until done and a failed
commit tried again; drain finishes the record in hand; a lane killed by a bug is reported while the
others go on; the backoff doubles to its cap; a lane failing again and again is stalled until it moves.
"""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition
from torghut_runtime.lane_topics import RETRY_BACKOFF_CAP_S, LaneTopic, backoff_s
from torghut_runtime.lanes import RecordLanes

from .conftest import Consumer, Record, per_record, settle


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


async def test_a_stop_while_the_broker_is_away_does_not_wait_for_the_last_commit() -> None:
    """aiokafka's commit waits for a coordinator as long as the broker is away: the drain gives it its
    timeout, then stops; the handled records are read again on the next start."""
    class AwayBroker(Consumer):
        async def commit(self, offsets: dict[TopicPartition, int]) -> None:
            await asyncio.Event().wait()

    async def handle(record: Record) -> bool:
        return True

    consumer = AwayBroker()
    lanes = RecordLanes({"a": LaneTopic()}, per_record(handle), retry_backoff_s=0)
    lanes.accept([Record("a", 0, 0)], consumer)  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    await asyncio.wait_for(lanes.drain(0.2), 10)
    assert consumer.committed() == {}
