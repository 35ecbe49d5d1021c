"""One consumer's records, handled in lanes that run side by side.

Every consumer is a fetch loop, and on a quiet topic every loop costs the service and the broker a
fetch per ``KAFKA_FETCH_MAX_WAIT_MS``: a service with a consumer per topic spends most of its idle
CPU (and, on two cores, much of its latency) fetching nothing. So a service reads all its
per-record topics with one consumer and hands each record to a *lane*: a task that handles its
records in order, one at a time, and commits each one's offset once handled. A topic is one lane,
as if it had a consumer of its own; a topic with ``workers`` > 1 gets a lane per partition, at most
``workers`` of them handling at once, so slow handlers (an LLM call) overlap across keys while each
key keeps its order. A lane that waits (a handler retrying, a slow engine) holds back nobody
else's records, and a handler may wait for another lane's topic to be read through (see
:mod:`.progress`).

A lane holding ``HIGH_WATER`` records pauses their partitions, so memory stays bounded; the
consumer refetches them from its position when the lane has caught up. A record whose partition
was revoked before its turn is left to the partition's new owner (its offset was never committed);
one being handled when that happens finishes, and the new owner's copy is recognised by its
tracking record. On stop, each lane finishes the record in hand; the rest are read again on the
next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

log = structlog.get_logger("torghut.kafka")

#: Records a lane may hold before it pauses their partitions (and resumes them at half).
HIGH_WATER = 32


@dataclass(frozen=True)
class LaneTopic:
    """How one topic's records are laned: ``workers`` > 1 means a lane per partition, at most that many busy."""

    workers: int = 1
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))

    @classmethod
    def with_workers(cls, workers: int) -> LaneTopic:
        return cls(workers, asyncio.Semaphore(workers))


@dataclass
class _Lane:
    topic: LaneTopic
    queue: deque[Any] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    paused: set[TopicPartition] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class RecordLanes:
    """The lanes of one consumer.

    ``handle(record)`` returns True once the record is done with (handled, or dead-lettered), False
    to be called again for it (it backed off itself: a handler failing below its attempts). If it
    raises (the database or the broker is down), it is called again after ``retry_backoff_s``.
    """

    def __init__(self, topics: dict[str, LaneTopic], handle: Callable[[Any], Awaitable[bool]],
                 retry_backoff_s: float) -> None:
        self._topics = topics
        self._handle = handle
        self._retry_backoff_s = retry_backoff_s
        self._lanes: dict[str | tuple[str, int], _Lane] = {}
        self._closing = False

    async def accept(self, record: Any, consumer: AIOKafkaConsumer) -> None:
        """Queue a fetched record on its lane; returns at once, so the fetch loop never waits."""
        if self._closing:
            return  # not committed: read again after the restart
        topic = self._topics[record.topic]
        key: str | tuple[str, int] = (record.topic, record.partition) if topic.workers > 1 else record.topic
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(topic)
            # A fresh context: the lane must not inherit the trace of the record that opened it.
            lane.task = asyncio.create_task(self._run(lane, consumer), name=f"lane {key}",
                                            context=contextvars.Context())
        lane.queue.append(record)
        lane.arrived.set()
        if len(lane.queue) >= HIGH_WATER:
            tp = TopicPartition(record.topic, record.partition)
            consumer.pause(tp)
            lane.paused.add(tp)

    async def _run(self, lane: _Lane, consumer: AIOKafkaConsumer) -> None:
        while not self._closing:
            if not lane.queue:
                lane.arrived.clear()
                await lane.arrived.wait()
                continue
            record = lane.queue[0]
            tp = TopicPartition(record.topic, record.partition)
            if tp in consumer.assignment():
                async with lane.topic.slots:
                    await self._handle_until_done(record)
                await self._commit(consumer, tp, record.offset + 1)
            lane.queue.popleft()
            if lane.paused and len(lane.queue) <= HIGH_WATER // 2:
                consumer.resume(*(tp for tp in lane.paused if tp in consumer.assignment()))
                lane.paused.clear()

    async def _handle_until_done(self, record: Any) -> None:
        while True:
            try:
                if await self._handle(record):
                    return
            except Exception as exc:
                log.warning("record not handled; trying again", topic=record.topic, partition=record.partition,
                            offset=record.offset, error=repr(exc))
                await asyncio.sleep(self._retry_backoff_s)

    @staticmethod
    async def _commit(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        """Commit past a handled record. A failed commit loses nothing: the effects are committed with
        their tracking record, the next commit of the partition covers this one, and a redelivery
        changes nothing twice."""
        try:
            await consumer.commit({tp: offset})
        except KafkaError as exc:
            log.info("offset commit failed; a later commit covers it", topic=tp.topic, partition=tp.partition,
                     offset=offset, error=repr(exc))

    async def drain(self, timeout_s: float) -> None:
        """Stop taking records; let each lane finish the one in hand (up to ``timeout_s``), then stop."""
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
