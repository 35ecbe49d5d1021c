"""The CLI's broker side: topic metadata, reading a window, tailing, producing with pacing.

Tansu (the embedded broker) searches ``offsets_for_times`` by arrival time, not the producer's
timestamp, and answers past the end with offset 0 / timestamp -1. Since a record always arrives
after it was created, seeking to the first record that *arrived* at or after ``since`` (less a
clock-skew slack) never skips a wanted record; the record's own timestamp then decides. A
"timestamp -1" answer means no data in that partition.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from torghut_contracts.headers import header_dict

from .windows import Window, pacing_delays

CLOCK_SKEW_SLACK_MS = 60_000


@dataclass(frozen=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    headers: dict[str, str]
    value: bytes

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"topic": self.topic, "partition": self.partition, "offset": self.offset,
                               "timestamp_ms": self.timestamp_ms, "key": self.key, "headers": self.headers}
        try:
            out["value"] = json.loads(self.value)
        except (UnicodeDecodeError, json.JSONDecodeError):
            out["value_base64"] = base64.b64encode(self.value).decode()
        return out

    @classmethod
    def from_json(cls, line: dict[str, Any]) -> RawRecord:
        if "value_base64" in line:
            value = base64.b64decode(line["value_base64"])
        else:
            value = json.dumps(line["value"], ensure_ascii=False, separators=(",", ":")).encode()
        return cls(topic=line["topic"], partition=int(line.get("partition", 0)), offset=int(line.get("offset", -1)),
                   timestamp_ms=int(line.get("timestamp_ms", 0)), key=line.get("key"),
                   headers={str(k): str(v) for k, v in (line.get("headers") or {}).items()}, value=value)


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
        tps = await _partitions(consumer, topic)
        beginning = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        return [PartitionOffsets(tp.partition, beginning[tp], end[tp]) for tp in tps]
    finally:
        await consumer.stop()


async def group_lag(bootstrap: str, group_id: str, topic: str) -> dict[int, int | None]:
    """Per partition: end offset minus the group's committed offset (None: nothing committed)."""
    consumer = _consumer(bootstrap, group_id=group_id)
    await consumer.start()
    try:
        tps = await _partitions(consumer, topic)
        end = await consumer.end_offsets(tps)
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
            for tp in await _partitions(consumer, topic):
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


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(50):
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        await consumer.topics()  # refreshes metadata
        await asyncio.sleep(0.05)
    raise LookupError(f"topic {topic!r} does not exist")


async def read_window(bootstrap: str, topic: str, window: Window,
                      on_progress: Callable[[int, int], None] | None = None) -> AsyncIterator[RawRecord]:
    """Yield the records of ``window``, partition by partition order of arrival, then stop.

    The end is the high watermark when reading started, so a busy topic still gives a finite dump.
    """
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        tps = await _partitions(consumer, topic)
        consumer.assign(tps)
        beginning = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        starts = await _start_offsets(consumer, tps, beginning, end, window)
        remaining = {tp: end[tp] for tp in tps if starts[tp] is not None and starts[tp] < end[tp]}
        for tp in tps:
            if tp in remaining:
                consumer.seek(tp, starts[tp])
        total = sum(end[tp] - (starts[tp] or 0) for tp in remaining)
        done = 0
        while remaining:
            batch = await consumer.getmany(*remaining.keys(), timeout_ms=200)
            for tp, records in batch.items():
                for r in records:
                    if tp not in remaining or r.offset >= remaining[tp]:
                        remaining.pop(tp, None)
                        break
                    done += 1
                    headers = header_dict(r.headers)
                    key = r.key.decode("utf-8", "replace") if r.key is not None else None
                    if window.admits(offset=r.offset, timestamp_ms=r.timestamp, key=key, headers=headers):
                        yield RawRecord(r.topic, r.partition, r.offset, r.timestamp, key, headers, r.value or b"")
                    if r.offset >= remaining.get(tp, 0) - 1:
                        remaining.pop(tp, None)
            if on_progress is not None:
                on_progress(done, total)
    finally:
        await consumer.stop()


async def _start_offsets(consumer: AIOKafkaConsumer, tps: list[TopicPartition], beginning: dict[TopicPartition, int],
                         end: dict[TopicPartition, int], window: Window) -> dict[TopicPartition, int | None]:
    starts: dict[TopicPartition, int | None] = {
        tp: max(beginning[tp], window.start_offset or 0) for tp in tps}
    if window.since_ms is not None:
        found = await consumer.offsets_for_times({tp: max(0, window.since_ms - CLOCK_SKEW_SLACK_MS) for tp in tps})
        for tp in tps:
            hit = found.get(tp)
            if hit is None or hit.timestamp == -1:
                starts[tp] = None  # nothing arrived at or after `since` in this partition
            else:
                starts[tp] = max(starts[tp] or 0, hit.offset)
    return starts


async def tail(bootstrap: str, topic: str, *, from_beginning: bool, limit: int | None,
               idle_timeout_s: float | None) -> AsyncIterator[RawRecord]:
    """Follow a topic; stops after ``limit`` records or ``idle_timeout_s`` without any."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        tps = await _partitions(consumer, topic)
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
