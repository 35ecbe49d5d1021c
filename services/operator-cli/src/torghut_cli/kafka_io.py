"""The CLI's broker side: topic metadata, tailing, producing with pacing.

Reading a window of a topic (``replay dump``/``copy``) is :mod:`torghut_runtime.topic_window`,
shared with the research lane's ``kafka://`` input.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from torghut_contracts.headers import header_dict
from torghut_runtime.topic_window import RawRecord, topic_partitions, true_end_offsets

from .windows import pacing_delays


def _consumer(bootstrap: str, group_id: str | None = None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False,
                            fetch_max_wait_ms=50, request_timeout_ms=10_000)


async def list_topics(bootstrap: str) -> dict[str, int]:
    """Topic name -> partition count."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        names = await consumer.topics()
        return {name: len(consumer.partitions_for_topic(name) or ()) for name in sorted(names)}
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class PartitionOffsets:
    partition: int
    beginning: int
    end: int


async def describe_topic(bootstrap: str, topic: str) -> list[PartitionOffsets]:
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        consumer.assign(tps)
        beginning = await consumer.beginning_offsets(tps)
        end = await true_end_offsets(consumer, tps, beginning)  # Tansu lists a batch's start as the end
        return [PartitionOffsets(tp.partition, beginning[tp], end[tp]) for tp in tps]
    finally:
        await consumer.stop()


async def dead_letter_counts(bootstrap: str) -> dict[str, int]:
    """Records held by each non-empty ``*.dlq`` topic (end less beginning, over its partitions)."""
    counts: dict[str, int] = {}
    for name in sorted(t for t in await list_topics(bootstrap) if t.endswith(".dlq")):
        held = sum(p.end - p.beginning for p in await describe_topic(bootstrap, name))
        if held:
            counts[name] = held
    return counts


async def group_lag(bootstrap: str, group_id: str, topic: str) -> dict[int, int | None]:
    """Per partition: end offset minus the group's committed offset (None: nothing committed)."""
    consumer = _consumer(bootstrap, group_id=group_id)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        consumer.assign(tps)
        end = await true_end_offsets(consumer, tps)  # Tansu lists a batch's start as the end
        lag: dict[int, int | None] = {}
        for tp in tps:
            committed = await consumer.committed(tp)
            lag[tp.partition] = None if committed is None else max(0, end[tp] - committed)
        return lag
    finally:
        await consumer.stop()


async def committed_topics(bootstrap: str, group_id: str, candidates: list[str]) -> list[str]:
    """Which of ``candidates`` ``group_id`` committed offsets on: a service's shared consumer
    (group ``<service>.<name>``) reads several topics, so its name does not say which. (Asked topic by
    topic: Tansu's answer to an all-topics OffsetFetch does not decode in aiokafka.)"""
    consumer = _consumer(bootstrap, group_id=group_id)
    await consumer.start()
    try:
        existing = await consumer.topics()
        found = []
        for topic in candidates:
            if topic not in existing:
                continue
            for tp in await topic_partitions(consumer, topic):
                if await consumer.committed(tp) is not None:
                    found.append(topic)
                    break
        return sorted(found)
    finally:
        await consumer.stop()


async def list_groups(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(group for group, _ in await admin.list_consumer_groups())
    finally:
        await admin.close()


async def tail(bootstrap: str, topic: str, *, from_beginning: bool, limit: int | None,
               idle_timeout_s: float | None) -> AsyncIterator[RawRecord]:
    """Follow a topic; stops after ``limit`` records or ``idle_timeout_s`` without any."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        seen = 0
        idle = 0.0
        while limit is None or seen < limit:
            batch = await consumer.getmany(timeout_ms=200)
            if not batch:
                idle += 0.2
                if idle_timeout_s is not None and idle >= idle_timeout_s:
                    return
                continue
            idle = 0.0
            for records in batch.values():
                for r in records:
                    key = r.key.decode("utf-8", "replace") if r.key is not None else None
                    yield RawRecord(r.topic, r.partition, r.offset, r.timestamp, key, header_dict(r.headers),
                                    r.value or b"")
                    seen += 1
                    if limit is not None and seen >= limit:
                        return
    finally:
        await consumer.stop()


async def produce_records(bootstrap: str, records: Iterable[tuple[str, RawRecord]], *, speed: float | None,
                          on_progress: Callable[[int], None] | None = None) -> int:
    """Produce ``(target topic, record)`` pairs in order, paced by their original timestamps."""
    items = list(records)
    delays = pacing_delays((r.timestamp_ms for _, r in items), speed)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    sent = 0
    try:
        for (target, record), delay in zip(items, delays, strict=True):
            if delay > 0:
                await asyncio.sleep(delay)
            await producer.send_and_wait(target, record.value,
                                         key=record.key.encode() if record.key is not None else None,
                                         headers=[(k, v.encode()) for k, v in record.headers.items()])
            sent += 1
            if on_progress is not None:
                on_progress(sent)
    finally:
        await producer.stop()
    return sent
