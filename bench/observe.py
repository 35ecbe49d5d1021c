"""Watch topics from their current end and note when each record arrives (for latency).

The benchmarks time a message from the moment it is produced to the moment a plain consumer sees
its consequence on another topic; that consumer is this observer. It is assigned every partition
(no group, no rebalancing) and starts at the end, so only records produced during the run count.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from torghut_contracts.headers import header_dict

#: (topic, headers, value) -> the id a waiter looks the record up by, or None to ignore it.
Indexer = Callable[[str, dict[str, str], bytes], str | None]


class Observer:
    """Records ``(topic, id) -> arrival time`` (``time.perf_counter``) for every record it reads."""

    def __init__(self, bootstrap: str, topics: Iterable[str], index: Indexer, *, fetch_max_wait_ms: int = 20) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.index = index
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.arrivals: dict[tuple[str, str], float] = {}
        self.records: list[tuple[str, dict[str, str], bytes, float]] = []
        self._changed = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    fetch_max_wait_ms=self.fetch_max_wait_ms)
        await consumer.start()
        self._consumer = consumer
        tps: list[TopicPartition] = []
        deadline = time.monotonic() + 20
        for topic in self.topics:
            partitions = consumer.partitions_for_topic(topic)
            while not partitions:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no metadata for topic {topic}")
                await consumer.force_metadata_update()  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
                partitions = consumer.partitions_for_topic(topic)
            tps.extend(TopicPartition(topic, p) for p in sorted(partitions))
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the lazy seek now, so nothing produced from here on is missed
            await consumer.position(tp)
        self._task = asyncio.create_task(self._read(consumer))

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            at = time.perf_counter()
            for records in batch.values():
                for r in records:
                    headers = header_dict(r.headers)
                    value = r.value or b""
                    self.records.append((r.topic, headers, value, at))
                    key = self.index(r.topic, headers, value)
                    if key is not None:
                        self.arrivals.setdefault((r.topic, key), at)
            if batch:
                self._changed.set()

    async def wait_for(self, topic: str, key: str, timeout: float) -> float | None:
        """Arrival time of ``key`` on ``topic``, waiting up to ``timeout`` seconds; None if it never came."""
        if await self.wait_until(lambda: (topic, key) in self.arrivals, timeout):
            return self.arrivals[(topic, key)]
        return None

    def seen_since(self, topic: str, since: float) -> bool:
        """Has any record of ``topic`` arrived at or after ``since`` (a ``perf_counter`` time)?"""
        return any(t == topic and at >= since for t, _, _, at in reversed(self.records[-50:]))

    async def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait (up to ``timeout`` seconds) until ``condition()`` holds, re-checking after every fetch."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def __aenter__(self) -> Observer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
