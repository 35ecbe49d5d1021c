"""Reading a finite window of a topic: by offsets, record time, key or header, then stop.

Shared by the operator's ``torghut replay dump|copy`` and the research lane's ``kafka://`` input,
so both read the same records for the same window.

The end of every partition is its high watermark when reading starts, so a busy topic still gives
a finite read. A partition is done once the consumer's position reaches that end (not once a record
at ``end - 1`` was seen: a transaction marker or a compacted-away record may hold that offset).

Tansu (the embedded broker) lists a partition's end (ListOffsets "latest") as the last record
*batch's* base offset plus one, short of the true end when producers batch; the end is therefore
taken from the high watermark of a first fetch (see :func:`true_end_offsets`). Tansu also searches
``offsets_for_times`` by arrival time, not the producer's timestamp, and answers past the end with
offset 0 / timestamp -1. Since a record always arrives
after it was created, seeking to the first record that *arrived* at or after ``since`` (less a
clock-skew slack) never skips a wanted record; the record's own timestamp then decides
(:meth:`Window.admits`). A "timestamp -1" answer means no data in that partition. A real Kafka
broker searches by CreateTime, for which the same seek is merely early by the slack.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from torghut_contracts.headers import header_dict

#: How far before ``since`` the coarse seek starts: producers' clocks may run ahead of the broker's.
CLOCK_SKEW_SLACK_MS = 60_000
#: How long connecting to the broker may take before the read fails (an unreachable host, a
#: firewall dropping packets) instead of hanging.
CONNECT_TIMEOUT_S = 10.0
#: How long a read may go without a single record while records are still due before it fails
#: (the broker went away mid-read): a window read never waits forever.
STALL_TIMEOUT_S = 30.0


class WindowReadError(Exception):
    """The window cannot be read; the message says why in one line."""


class BrokerUnreachable(WindowReadError, ConnectionError):
    """No broker answered at the bootstrap address (in time)."""


class TopicMissing(WindowReadError, LookupError):
    """The broker answered but does not have the topic."""


@dataclass(frozen=True)
class Window:
    """A slice of a topic: by offsets (inclusive start, exclusive end) and/or by record time."""

    start_offset: int | None = None
    end_offset: int | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    key: str | None = None
    header_equals: Mapping[str, str] = field(default_factory=dict)

    def admits(self, *, offset: int, timestamp_ms: int, key: str | None, headers: Mapping[str, str]) -> bool:
        # The seek by time is only coarse (see the module docstring): the record's own timestamp decides.
        if self.start_offset is not None and offset < self.start_offset:
            return False
        if self.end_offset is not None and offset >= self.end_offset:
            return False
        if self.since_ms is not None and timestamp_ms < self.since_ms:
            return False
        if self.until_ms is not None and timestamp_ms >= self.until_ms:
            return False
        if self.key is not None and key != self.key:
            return False
        return all(headers.get(k) == v for k, v in self.header_equals.items())


def to_ms(moment: datetime) -> int:
    """Unix milliseconds of an aware time; a naive one is refused (whose clock would it be?)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; give one, e.g. 2026-02-12T15:30:00Z")
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class RawRecord:
    """One record as the broker holds it; ``as_json``/``from_json`` are the replay dump's line format."""

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


def window_consumer(bootstrap: str) -> AIOKafkaConsumer:
    """A group-less consumer that commits nothing: reading a window leaves no trace on the broker."""
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                            fetch_max_wait_ms=50, request_timeout_ms=10_000)


async def start_consumer(consumer: AIOKafkaConsumer, bootstrap: str,
                         timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """``consumer.start()`` bounded in time, failing with :class:`BrokerUnreachable` in one line."""
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
    except TimeoutError:
        raise BrokerUnreachable(f"no Kafka broker answered at {bootstrap} within {timeout_s:g} s") from None
    except KafkaError as exc:
        raise BrokerUnreachable(f"cannot reach a Kafka broker at {bootstrap}: {exc}") from None


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The topic's partitions, waiting briefly for metadata to catch up with a just-created topic."""
    for _ in range(50):
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        await consumer.topics()  # refreshes metadata
        await asyncio.sleep(0.05)
    raise TopicMissing(f"topic {topic!r} does not exist")


async def read_window(bootstrap: str, topic: str, window: Window,
                      on_progress: Callable[[int, int], None] | None = None, *,
                      connect_timeout_s: float = CONNECT_TIMEOUT_S,
                      stall_timeout_s: float = STALL_TIMEOUT_S) -> AsyncGenerator[RawRecord, None]:
    """Yield the records of ``window``, each partition in offset order (partitions interleaved), then stop.

    The end is the high watermark when reading started, so a busy topic still gives a finite read.
    Raises :class:`BrokerUnreachable`, :class:`TopicMissing`, or :class:`WindowReadError` when the
    broker stops answering mid-read.
    """
    consumer = window_consumer(bootstrap)
    try:
        await start_consumer(consumer, bootstrap, connect_timeout_s)
        tps = await topic_partitions(consumer, topic)
        consumer.assign(tps)
        beginning = await consumer.beginning_offsets(tps)
        end = await true_end_offsets(consumer, tps, beginning)
        starts = await _start_offsets(consumer, tps, beginning, window)
        remaining: dict[TopicPartition, int] = {}
        for tp in tps:
            start = starts[tp]
            if start is not None and start < end[tp]:
                consumer.seek(tp, start)
                remaining[tp] = end[tp]
        consumer.pause(*(tp for tp in tps if tp not in remaining))  # no prefetching past what is wanted
        total = sum(end[tp] - (starts[tp] or 0) for tp in remaining)
        done = 0
        last_progress = time.monotonic()
        while remaining:
            batch = await consumer.getmany(*remaining.keys(), timeout_ms=200)
            for tp, records in batch.items():
                for r in records:
                    if tp not in remaining or r.offset >= remaining[tp]:
                        remaining.pop(tp, None)
                        consumer.pause(tp)
                        break
                    done += 1
                    headers = header_dict(r.headers)
                    key = r.key.decode("utf-8", "replace") if r.key is not None else None
                    if window.admits(offset=r.offset, timestamp_ms=r.timestamp, key=key, headers=headers):
                        yield RawRecord(r.topic, r.partition, r.offset, r.timestamp, key, headers, r.value or b"")
            for tp in list(remaining):
                if await consumer.position(tp) >= remaining[tp]:
                    remaining.pop(tp)
                    consumer.pause(tp)
            if batch:
                last_progress = time.monotonic()
            elif remaining and time.monotonic() - last_progress > stall_timeout_s:
                raise WindowReadError(f"{topic}: no record for {stall_timeout_s:g} s while {len(remaining)} "
                                      "partition(s) still had records due (is the broker still up?)")
            if on_progress is not None:
                on_progress(done, total)
    finally:
        await consumer.stop()


async def true_end_offsets(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                           beginning: dict[TopicPartition, int] | None = None,
                           timeout_s: float = 5.0) -> dict[TopicPartition, int]:
    """Each partition's true end: the high watermark a fetch reports, never below the listed end.

    ``consumer`` must have ``tps`` assigned; its positions are moved (read nothing from it after).

    Tansu's ListOffsets(latest) answers the base offset of the last record *batch* plus one, so a
    producer that batched (any linger, or ``send`` without waiting) makes it short by the rest of
    that batch; its Fetch responses carry the right high watermark. Fetching from just before the
    listed end reads at most that last batch. (A real broker lists the true end; both agree.)
    """
    beginning = beginning if beginning is not None else await consumer.beginning_offsets(tps)
    listed = await consumer.end_offsets(tps)
    for tp in tps:
        consumer.seek(tp, max(beginning[tp], listed[tp] - 1))
    deadline = time.monotonic() + timeout_s
    while any(consumer.highwater(tp) is None for tp in tps) and time.monotonic() < deadline:
        await consumer.getmany(*tps, timeout_ms=100, max_records=1)
    return {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in tps}


async def _start_offsets(consumer: AIOKafkaConsumer, tps: list[TopicPartition], beginning: dict[TopicPartition, int],
                         window: Window) -> dict[TopicPartition, int | None]:
    """Where each partition's read starts; None: nothing in that partition can be in the window."""
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
