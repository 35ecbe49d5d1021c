"""One consumer's records, handled in lanes that run side by side.

Every consumer is a fetch loop, and on a quiet topic every loop costs the service and the broker a
fetch per ``KAFKA_FETCH_MAX_WAIT_MS``: a service with a consumer per topic spends most of its idle
CPU (and, on two cores, much of its latency) fetching nothing. So a service reads all its topics
with one consumer and hands each record to a *lane*: a task that handles its records in order.

A topic is one lane, as if it had a consumer of its own. A topic with ``workers`` > 1 gets a lane
per partition, at most ``workers`` of them handling at once, so slow handlers (an LLM call) overlap
across keys while each key keeps its order. A topic with ``batch`` > 1 (TA signals) hands its
handler everything queued, up to ``batch`` records, so a burst costs one transaction instead of
one each. A lane that waits (a handler retrying, a slow engine) holds back nobody else's records,
and a handler may wait for another lane's topic to be read through (see :mod:`.progress`).

The offsets of handled records are committed together every ``COMMIT_INTERVAL_S`` (a commit per
record was a third of a quiet service's broker requests): a record handled but not yet committed
when the service dies is read again, and its tracking record makes that change nothing.

A lane holding ``HIGH_WATER`` records (twice its batch, if more) pauses their partitions, so
memory stays bounded; the consumer refetches them from its position when the lane has caught up.
A record whose partition was revoked before its turn is left to the partition's new owner (its
offset was never committed); one being handled when that happens finishes, and the new owner's
copy is recognised by its tracking record. On stop, each lane finishes the records in hand; the
rest are read again on the next start. A lane that dies of a bug is reported by
:attr:`RecordLanes.crashed` (the liveness probe fails, so the orchestrator restarts the service and
its records are read again).

A topic may have a :class:`Gate` (a switch an operator flips at run time, e.g. a feature flag): while
it is closed the lane holds its records, neither handled nor committed, and once it holds
``HIGH_WATER`` the partition is paused as above; the records wait on the topic and are handled in
order when the gate opens (or, after a restart, read again from the committed offset).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from .lane_topics import LaneTopic, backoff_s

log = structlog.get_logger("torghut.kafka")

#: How often the handled offsets are committed, all partitions in one request.
COMMIT_INTERVAL_S = 0.1


@dataclass
class _Lane:
    topic: LaneTopic
    queue: deque[Any] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    paused: set[TopicPartition] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    failures: int = 0
    """Tries in a row that raised: the backoff doubles with each, and it makes the lane stalled."""


Handle = Callable[[list[Any]], Awaitable[Collection[Any]]]
"""Handle a lane's next records (one, or up to the topic's ``batch``) and return those done with
(handled, or dead-lettered); the rest are offered again, after the handler's own backoff. Records
of one partition are done in order: what is done of a partition is a prefix of its records."""


def _partition(record: Any) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


class RecordLanes:
    """The lanes of one consumer.

    ``handle`` (see :data:`Handle`) may raise (the database or the broker is down, a dead-letter
    write failed): its records are then offered again after a backoff that starts at
    ``retry_backoff_s`` and doubles with each failure in a row, up to ``RETRY_BACKOFF_CAP_S``. After
    ``stall_after`` failures in a row the lane is reported in :attr:`stalled` until one succeeds.
    """

    def __init__(self, topics: dict[str, LaneTopic], handle: Handle, retry_backoff_s: float,
                 stall_after: int = 5) -> None:
        self._topics = topics
        self._handle = handle
        self._retry_backoff_s = retry_backoff_s
        self._stall_after = stall_after
        self._lanes: dict[str | tuple[str, int], _Lane] = {}
        self._closing = False
        self._handled: dict[TopicPartition, int] = {}
        """The next offset to read of each partition, once handled, until it is committed."""
        self._committer: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._to_commit = asyncio.Event()
        self.crashed: list[str] = []
        """The lanes that died of an unexpected error: their topics are not handled until a restart."""
        self.stalled: set[str] = set()
        """The lanes whose records failed ``stall_after`` times in a row (their topic stands still)."""

    def accept(self, records: Iterable[Any], consumer: AIOKafkaConsumer) -> None:
        """Queue fetched records on their lanes; returns at once, so the fetch loop never waits."""
        if self._closing:
            return  # not committed: read again after the restart
        if self._committer is None:
            self._consumer = consumer
            self._committer = asyncio.create_task(self._commit_every(), name="lane offsets",
                                                  context=contextvars.Context())
        for record in records:
            lane = self._lane(record, consumer)
            lane.queue.append(record)
            lane.arrived.set()
            if len(lane.queue) >= lane.topic.high_water:
                tp = _partition(record)
                consumer.pause(tp)
                lane.paused.add(tp)

    def _lane(self, record: Any, consumer: AIOKafkaConsumer) -> _Lane:
        topic = self._topics[record.topic]
        key: str | tuple[str, int] = (record.topic, record.partition) if topic.workers > 1 else record.topic
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(topic)
            if topic.gate is not None:
                topic.gate.wake_on_open(lane.arrived)
            # A fresh context: the lane must not inherit the trace of the record that opened it.
            lane.task = asyncio.create_task(self._run(lane, consumer), name=f"lane {key}",
                                            context=contextvars.Context())
            lane.task.add_done_callback(self._report_crash)
        return lane

    async def _run(self, lane: _Lane, consumer: AIOKafkaConsumer) -> None:
        while not self._closing:
            assigned = consumer.assignment()
            if any(_partition(record) not in assigned for record in lane.queue):
                # A revoked partition's records are left to its new owner (their offsets were never committed).
                lane.queue = deque(record for record in lane.queue if _partition(record) in assigned)
            if not lane.queue or not lane.topic.open:  # nothing to do, or held behind a closed gate
                lane.arrived.clear()
                await lane.arrived.wait()
                continue
            records = list(itertools.islice(lane.queue, lane.topic.batch))
            try:
                async with lane.topic.slots:
                    done = await self._handle(records)
            except Exception as exc:
                lane.failures += 1
                name = asyncio.current_task().get_name()  # type: ignore[union-attr]
                if lane.failures >= self._stall_after and name not in self.stalled:
                    self.stalled.add(name)
                    log.error("lane stalled: its records keep failing", lane=name, failures=lane.failures,
                              topic=records[0].topic, first_offset=records[0].offset, error=repr(exc))
                else:
                    log.warning("records not handled; trying again", topic=records[0].topic, records=len(records),
                                first_offset=records[0].offset, failures=lane.failures, error=repr(exc))
                await asyncio.sleep(backoff_s(self._retry_backoff_s, lane.failures))
                continue
            if lane.failures:
                lane.failures = 0
                self.stalled.discard(asyncio.current_task().get_name())  # type: ignore[union-attr]
            self._mark_handled(lane, done)
            if lane.paused and len(lane.queue) <= lane.topic.high_water // 2:
                consumer.resume(*(tp for tp in lane.paused if tp in consumer.assignment()))
                lane.paused.clear()

    def held(self) -> int:
        """Records fetched and waiting behind a closed gate (see :class:`Gate`)."""
        return sum(len(lane.queue) for lane in self._lanes.values() if not lane.topic.open)

    def _mark_handled(self, lane: _Lane, done: Collection[Any]) -> None:
        if not done:
            return
        if len(done) == 1 and next(iter(done)) is lane.queue[0]:
            lane.queue.popleft()
        else:
            gone = {id(record) for record in done}
            lane.queue = deque(record for record in lane.queue if id(record) not in gone)
        for record in done:
            tp = _partition(record)
            self._handled[tp] = max(self._handled.get(tp, 0), record.offset + 1)
        self._to_commit.set()

    async def _commit_every(self) -> None:
        assert self._consumer is not None
        while True:
            await self._to_commit.wait()
            await asyncio.sleep(COMMIT_INTERVAL_S)
            self._to_commit.clear()
            try:
                await self._commit(self._consumer)
            except Exception as exc:  # a stopping consumer: the drain's last commit or the next start
                log.warning("offset commit failed", error=repr(exc))
            if self._handled:
                self._to_commit.set()

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        """Commit past the handled records. A failed commit loses nothing: the effects are committed
        with their tracking records, and a redelivery changes nothing twice. A revoked partition's
        offsets are dropped (its new owner reads from the last commit); the others are tried again."""
        assigned = consumer.assignment()
        for tp in [tp for tp in self._handled if tp not in assigned]:
            del self._handled[tp]
        if not self._handled:
            return
        offsets = dict(self._handled)
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            log.info("offset commit failed; trying again", partitions=len(offsets), error=repr(exc))
            return
        for tp, offset in offsets.items():
            if self._handled.get(tp) == offset:  # not handled further meanwhile
                del self._handled[tp]

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        """A lane that died of a bug stops handling its topic: say so loudly and keep it for the probe
        (its records stay uncommitted, so a restart reads them again)."""
        if not task.cancelled() and task.exception() is not None:
            self.crashed.append(task.get_name())
            log.error("lane stopped by an unexpected error; its topic is not handled until a restart",
                      lane=task.get_name(), error=repr(task.exception()))

    async def drain(self, timeout_s: float) -> None:
        """Stop taking records; let each lane finish the one in hand (up to ``timeout_s``), commit what
        is handled (up to ``timeout_s`` again), then stop."""
        self._closing = True
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for lane in self._lanes.values():
            lane.arrived.set()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout_s)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._lanes.clear()
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
            self._committer = None
            if self._consumer is not None:
                try:
                    async with asyncio.timeout(timeout_s):
                        await self._commit(self._consumer)
                except TimeoutError:
                    # A broker that is away never answers (aiokafka waits for a coordinator): the stop
                    # goes on. The records are read again on the next start and change nothing twice.
                    log.warning("last offset commit abandoned: the broker did not answer", timeout_s=timeout_s)
